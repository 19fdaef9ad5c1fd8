"""n8n: a community-node package, `n8n-nodes-<slug>`, with one credential (API key and base
URL) and one trigger node written in n8n's programmatic style.

The trigger's `webhookMethods.default` subscribes the node's webhook URL (`create`), checks
the saved subscription (`checkExists`) and removes it (`delete`), keeping the hook's id and
signing secret in the workflow's static data; its `webhook()` verifies each delivery's
Standard Webhooks signature over the raw body before it starts the workflow.

The TypeScript is fixed text with data (names, event types, paths) inserted as JSON
literals: the output is deterministic and reads like a hand-written package.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..version import __version__
from .context import GENERATED_BY, ExportContext

# What the package compiles with; tests/node/n8n pins the same. n8n-workflow 2.11.1 is the
# newest release without `isolated-vm`, whose install needs Node >= 24.
DEV_DEPENDENCIES = {"@types/node": "20.19.43", "n8n-workflow": "2.11.1", "typescript": "5.9.3"}
TOLERANCE_SECONDS = 300  # Standard Webhooks' replay window, as `connector.verify`'s default
_MARKER = re.compile(r"@([A-Z_]+)@")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Names:
    """The package's names, all derived from the product name."""

    package: str  # n8n-nodes-acme-booth
    credential_class: str  # AcmeBoothApi
    credential: str  # acmeBoothApi
    node_class: str  # AcmeBoothTrigger
    node: str  # acmeBoothTrigger

    @classmethod
    def of(cls, ctx: ExportContext) -> Names:
        pascal = "".join(part[:1].upper() + part[1:] for part in ctx.slug.split("-"))
        pascal = pascal if pascal[:1].isalpha() else "App" + pascal
        if not _IDENTIFIER.match(pascal):
            raise ValueError(f"n8n needs a --name of ASCII letters and digits, not {ctx.name!r}")
        camel = pascal[:1].lower() + pascal[1:]
        kinds = (f"{pascal}Api", f"{camel}Api", f"{pascal}Trigger", f"{camel}Trigger")
        return cls(f"n8n-nodes-{ctx.slug}", *kinds)


def files(ctx: ExportContext) -> dict[str, str]:
    """The package's files by relative path; build it with `npm install && npm run build`."""
    names = Names.of(ctx)
    return {
        "package.json": _json(_package(ctx, names)),
        "tsconfig.json": f"// {GENERATED_BY}\n" + _json(_TSCONFIG),
        "README.md": _render(_README, {"PACKAGE": names.package, "NAME": ctx.name}, {}),
        f"credentials/{names.credential_class}.credentials.ts": _credential(ctx, names),
        f"nodes/{names.node_class}/{names.node_class}.node.ts": _node(ctx, names),
    }


def _package(ctx: ExportContext, names: Names) -> dict[str, Any]:
    return {
        "name": names.package,
        "version": __version__,
        "description": f"n8n trigger for {ctx.name} events, each delivery's signature verified.",
        "keywords": ["n8n-community-node-package", ctx.slug, "webhook", "trigger"],
        "license": "MIT",
        "files": ["dist"],
        "scripts": {"build": "tsc", "prepublishOnly": "npm run build"},
        "n8n": {
            "n8nNodesApiVersion": 1,
            "credentials": [f"dist/credentials/{names.credential_class}.credentials.js"],
            "nodes": [f"dist/nodes/{names.node_class}/{names.node_class}.node.js"],
        },
        "devDependencies": dict(DEV_DEPENDENCIES),
        "peerDependencies": {"n8n-workflow": "*"},
    }


_TSCONFIG = {
    "compilerOptions": {
        "target": "es2022",
        "lib": ["es2022"],
        "module": "commonjs",
        "moduleResolution": "node",
        "types": ["node"],
        "strict": True,
        "noImplicitReturns": True,
        "noUnusedLocals": True,
        "esModuleInterop": True,
        "skipLibCheck": True,
        "forceConsistentCasingInFileNames": True,
        "outDir": "dist",
    },
    "include": ["credentials/**/*.ts", "nodes/**/*.ts"],
}


def _operation_path(ctx: ExportContext, operation_id: str) -> str:
    """The path of the API operation `operation_id`, as the OpenAPI document names it."""
    for path, operations in ctx.openapi["paths"].items():
        if any(op.get("operationId") == operation_id for op in operations.values()):
            return str(path)
    raise ValueError(f"the API has no operation {operation_id!r}; n8n needs it")


def _api_key_header(ctx: ExportContext) -> str:
    """The header the API key goes in, from the Swagger document's security definitions."""
    for scheme in ctx.swagger.get("securityDefinitions", {}).values():
        if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
            return str(scheme["name"])
    raise ValueError("the API describes no API-key header; n8n needs one")


def _credential(ctx: ExportContext, names: Names) -> str:
    data = {
        "NAME": names.credential,
        "DISPLAY_NAME": f"{ctx.name} API",
        "HEADERS": {_api_key_header(ctx): "={{$credentials.apiKey}}"},
        "BASE_URL": ctx.base_url,
        "BASE_URL_HELP": f"Where {ctx.name} answers, without a trailing slash",
        "TEST_URL": _operation_path(ctx, "getAccount"),
    }
    return _render(_CREDENTIAL_TS, {"CLASS": names.credential_class}, data)


def _node(ctx: ExportContext, names: Names) -> str:
    events = [
        {"name": event.title, "value": event.name, "description": event.description}
        for event in map(ctx.catalog.get, ctx.catalog.names())
    ]
    if not events:
        raise ValueError("the catalog has no event types; an n8n trigger needs one")
    data = {
        "CREDENTIAL": names.credential,
        "HOOKS_PATH": _operation_path(ctx, "createHook"),
        "HOOK_PATH": _operation_path(ctx, "getHook"),
        "TOLERANCE": TOLERANCE_SECONDS,
        "NAME": names.node,
        "DISPLAY_NAME": f"{ctx.name} Trigger",
        "DESCRIPTION": f"Starts the workflow on {ctx.name} events",
        "EVENTS": events,
        "FIRST_EVENT": events[0]["value"],
    }
    return _render(_NODE_TS, {"CLASS": names.node_class}, data)


def _render(template: str, text: dict[str, str], data: dict[str, Any]) -> str:
    """`template` with each `@KEY@` replaced: `@GENERATED_BY@` by that line, `text` as it is
    (names checked in `Names.of`), `data` as JSON indented like the marker's line."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "GENERATED_BY":
            return GENERATED_BY
        if key in text:
            return text[key]
        line = template[template.rfind("\n", 0, match.start()) + 1 :]
        indent = line[: len(line) - len(line.lstrip(" "))]
        return json.dumps(data[key], indent=2, ensure_ascii=False).replace("\n", "\n" + indent)

    return _MARKER.sub(replace, template)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


_CREDENTIAL_TS = """\
// @GENERATED_BY@
import type {
  IAuthenticateGeneric,
  ICredentialTestRequest,
  ICredentialType,
  INodeProperties,
} from 'n8n-workflow';

/** The API key n8n sends with every request, and where the API answers. */
export class @CLASS@ implements ICredentialType {
  name = @NAME@;
  displayName = @DISPLAY_NAME@;
  properties: INodeProperties[] = [
    {
      displayName: 'API Key',
      name: 'apiKey',
      type: 'string',
      typeOptions: { password: true },
      default: '',
      required: true,
      description: 'Create one with: python -m connector keys create ACCOUNT',
    },
    {
      displayName: 'Base URL',
      name: 'baseUrl',
      type: 'string',
      default: @BASE_URL@,
      required: true,
      description: @BASE_URL_HELP@,
    },
  ];

  authenticate: IAuthenticateGeneric = {
    type: 'generic',
    properties: {
      headers: @HEADERS@,
    },
  };

  test: ICredentialTestRequest = {
    request: {
      baseURL: '={{$credentials.baseUrl}}',
      url: @TEST_URL@,
    },
  };
}
"""

_NODE_TS = """\
// @GENERATED_BY@
import { createHmac, timingSafeEqual } from 'crypto';
import type { IncomingHttpHeaders } from 'http';
import { NodeOperationError } from 'n8n-workflow';
import type {
  IDataObject,
  IHookFunctions,
  IHttpRequestMethods,
  IN8nHttpFullResponse,
  INodeType,
  INodeTypeDescription,
  IWebhookFunctions,
  IWebhookResponseData,
} from 'n8n-workflow';

const CREDENTIAL = @CREDENTIAL@;
const HOOKS_PATH = @HOOKS_PATH@;
const HOOK_PATH = @HOOK_PATH@;
/** Seconds a delivery's timestamp may differ from now (replayed deliveries are refused). */
const TOLERANCE_SECONDS = @TOLERANCE@;

/** One API call with the node's credential; any status is answered, none thrown. */
async function api(
  context: IHookFunctions,
  method: IHttpRequestMethods,
  path: string,
  body?: IDataObject,
): Promise<IN8nHttpFullResponse> {
  const credentials = await context.getCredentials<{ baseUrl: string }>(CREDENTIAL);
  return (await context.helpers.httpRequestWithAuthentication.call(context, CREDENTIAL, {
    method,
    url: String(credentials.baseUrl).replace(/\\/+$/, '') + path,
    body,
    json: true,
    returnFullResponse: true,
    ignoreHttpStatusErrors: true,
  })) as IN8nHttpFullResponse;
}

function hookPath(id: string): string {
  return HOOK_PATH.replace(/\\{[^}]+\\}/, encodeURIComponent(id));
}

function failure(context: IHookFunctions, what: string, response: IN8nHttpFullResponse) {
  const problem = (response.body ?? {}) as IDataObject;
  const detail = problem.detail ?? problem.title ?? '';
  return new NodeOperationError(
    context.getNode(),
    `${what} failed with status ${response.statusCode}: ${String(detail)}`,
  );
}

function forget(data: IDataObject): void {
  delete data.hookId;
  delete data.secret;
}

/**
 * Why a delivery does not verify, or undefined when it does (Standard Webhooks): one of the
 * space-separated `v1,<base64>` signatures must equal the HMAC-SHA256, keyed with the
 * secret's base64 part, of `{webhook-id}.{webhook-timestamp}.{raw body}`.
 */
function signatureProblem(
  raw: Buffer,
  headers: IncomingHttpHeaders,
  secret: string,
  nowSeconds: number,
): string | undefined {
  const header = (name: string) => [headers[name] ?? ''].flat()[0];
  const id = header('webhook-id');
  const timestamp = header('webhook-timestamp');
  const signatures = header('webhook-signature');
  if (!id || !timestamp || !signatures) return 'missing webhook-* headers';
  if (!/^[0-9]+$/.test(timestamp)) return 'malformed webhook-timestamp';
  if (Math.abs(nowSeconds - Number(timestamp)) > TOLERANCE_SECONDS) {
    return 'timestamp outside the tolerance window';
  }
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = Buffer.from(
    createHmac('sha256', key).update(`${id}.${timestamp}.`).update(raw).digest('base64'),
  );
  for (const signature of signatures.split(' ')) {
    const comma = signature.indexOf(',');
    if (comma < 0 || signature.slice(0, comma) !== 'v1') continue;
    const given = Buffer.from(signature.slice(comma + 1));
    if (given.length === expected.length && timingSafeEqual(given, expected)) return undefined;
  }
  return 'no signature matches';
}

export class @CLASS@ implements INodeType {
  description: INodeTypeDescription = {
    displayName: @DISPLAY_NAME@,
    name: @NAME@,
    group: ['trigger'],
    version: 1,
    subtitle: '={{"on " + $parameter["event"]}}',
    description: @DESCRIPTION@,
    defaults: { name: @DISPLAY_NAME@ },
    inputs: [],
    outputs: ['main'],
    credentials: [{ name: CREDENTIAL, required: true }],
    webhooks: [
      { name: 'default', httpMethod: 'POST', responseMode: 'onReceived', path: 'webhook' },
    ],
    properties: [
      {
        displayName: 'Event',
        name: 'event',
        type: 'options',
        options: @EVENTS@,
        default: @FIRST_EVENT@,
        required: true,
        description: 'The event type that starts the workflow',
      },
    ],
  };

  webhookMethods = {
    default: {
      /** Is the saved subscription still there, for this event and this webhook URL? */
      async checkExists(this: IHookFunctions): Promise<boolean> {
        const data = this.getWorkflowStaticData('node');
        if (typeof data.hookId !== 'string') return false;
        const response = await api(this, 'GET', hookPath(data.hookId));
        if (response.statusCode === 404) {
          forget(data);
          return false;
        }
        if (response.statusCode !== 200) throw failure(this, 'Checking the subscription', response);
        const hook = response.body as { target_url?: string; events?: string[] };
        const event = this.getNodeParameter('event') as string;
        const url = this.getNodeWebhookUrl('default');
        const events = hook.events ?? [];
        if (hook.target_url === url && events.length === 1 && events[0] === event) return true;
        await api(this, 'DELETE', hookPath(data.hookId)); // outdated: n8n creates the new one
        forget(data);
        return false;
      },

      /** Subscribe this node's webhook URL; a repeat answers the same hook and secret. */
      async create(this: IHookFunctions): Promise<boolean> {
        const url = this.getNodeWebhookUrl('default');
        if (!url) throw new NodeOperationError(this.getNode(), 'n8n gave no webhook URL');
        const event = this.getNodeParameter('event') as string;
        const response = await api(this, 'POST', HOOKS_PATH, {
          event,
          url,
          platform: 'n8n',
          signature: { scheme: 'standard-webhooks' }, // what webhook() verifies
        });
        if (response.statusCode !== 200 && response.statusCode !== 201) {
          throw failure(this, 'Subscribing', response);
        }
        const hook = response.body as { id: string; secret: string };
        const data = this.getWorkflowStaticData('node');
        data.hookId = hook.id;
        data.secret = hook.secret;
        return true;
      },

      /** Unsubscribe; a hook already gone is fine. */
      async delete(this: IHookFunctions): Promise<boolean> {
        const data = this.getWorkflowStaticData('node');
        if (typeof data.hookId === 'string') {
          const response = await api(this, 'DELETE', hookPath(data.hookId));
          if (response.statusCode !== 204 && response.statusCode !== 404) return false;
        }
        forget(data);
        return true;
      },
    },
  };

  /** A delivery: start the workflow with its JSON body, or answer 401 if it does not verify. */
  async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
    const request = this.getRequestObject();
    if (!request.rawBody) await request.readRawBody();
    const secret = this.getWorkflowStaticData('node').secret;
    const now = Math.floor(Date.now() / 1000);
    const problem =
      typeof secret === 'string'
        ? signatureProblem(request.rawBody ?? Buffer.alloc(0), this.getHeaderData(), secret, now)
        : 'not subscribed';
    if (problem !== undefined) {
      this.getResponseObject().status(401).send(`signature: ${problem}`);
      return { noWebhookResponse: true };
    }
    return { workflowData: [[{ json: this.getBodyData() }]] };
  }
}
"""

_README = """\
<!-- @GENERATED_BY@ -->
# @PACKAGE@

n8n community node: the **@NAME@ Trigger** starts a workflow on the event type you pick, once
each delivery's signature verifies. Build with `npm install && npm run build`; then `npm link`
it into `~/.n8n/custom`, or `npm publish` it and install it under Settings > Community nodes.
"""
