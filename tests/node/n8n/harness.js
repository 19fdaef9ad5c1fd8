// Drives a compiled n8n trigger node as n8n would, for tests/test_platform_n8n.py.
//
// Usage: node harness.js NODE_JS CREDENTIAL_JS, then one JSON command per stdin line, one JSON
// answer per stdout line. The context objects give the node exactly what it calls:
// getWorkflowStaticData('node') (kept across commands, like n8n's), getNodeParameter,
// getNodeWebhookUrl, getCredentials, getNode, helpers.httpRequestWithAuthentication (fetch,
// with the credential's own `authenticate` applied), and for webhook() the request, its
// headers and parsed body, and a response object that records what the node answers.
//
// Commands:
//   {"op": "configure", "credentials": {...}, "parameters": {...}, "webhookUrl": "..."}
//   {"op": "checkExists" | "create" | "delete"}      -> {"result", "staticData", "calls"}
//   {"op": "forget"}                                  -> static data emptied (n8n lost it)
//   {"op": "testCredential"}                          -> {"status"} of the credential's test
//   {"op": "webhook", "headers": {...}, "body": BASE64} -> {"status", "sent", "noWebhookResponse", "workflowData"}
'use strict';

const readline = require('node:readline');

const [nodeFile, credentialFile] = process.argv.slice(2);
const classOf = (file) => Object.values(require(file)).find((v) => typeof v === 'function');
const node = new (classOf(nodeFile))();
const credential = new (classOf(credentialFile))();

let settings = { credentials: {}, parameters: {}, webhookUrl: undefined };
let staticData = {};
let calls = [];

// What n8n decrypts for the node: the credential's defaults, overridden by what was entered.
function credentialValues() {
  const defaults = Object.fromEntries(credential.properties.map((p) => [p.name, p.default]));
  return { ...defaults, ...settings.credentials };
}

// `={{$credentials.name}}` inside a string: n8n's expressions, only the form credentials use.
function resolve(value) {
  if (typeof value !== 'string' || !value.startsWith('=')) return value;
  const values = credentialValues();
  return value.slice(1).replace(/\{\{\s*\$credentials\.(\w+)\s*\}\}/g, (_, name) => String(values[name]));
}

function resolveAll(object) {
  return Object.fromEntries(Object.entries(object || {}).map(([k, v]) => [k, resolve(v)]));
}

// n8n's helpers.httpRequest semantics, on fetch: baseURL + url, JSON bodies, `json` asks for
// JSON, `returnFullResponse` answers {body, headers, statusCode}, and any status other than
// 2xx throws unless `ignoreHttpStatusErrors`.
async function httpRequest(options) {
  const url = (options.baseURL ? options.baseURL.replace(/\/+$/, '') : '') + options.url;
  const method = (options.method || 'GET').toUpperCase();
  const headers = { ...(options.headers || {}) };
  let body;
  if (options.body !== undefined && method !== 'GET') {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  if (options.json) headers.accept = 'application/json';
  const response = await fetch(url, { method, headers, body, redirect: 'manual' });
  calls.push({ method, url, body: options.body === undefined ? null : options.body, status: response.status });
  const text = await response.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : '';
  } catch {}
  if (!options.ignoreHttpStatusErrors && !response.ok) {
    throw new Error(`Request failed with status code ${response.status}`);
  }
  if (!options.returnFullResponse) return parsed;
  return {
    body: parsed,
    headers: Object.fromEntries(response.headers),
    statusCode: response.status,
    statusMessage: response.statusText,
  };
}

async function httpRequestWithAuthentication(type, options) {
  if (type !== credential.name) throw new Error(`unknown credential type ${type}`);
  const auth = credential.authenticate;
  if (!auth || auth.type !== 'generic') throw new Error('only generic authentication is driven');
  return httpRequest({
    ...options,
    headers: { ...(options.headers || {}), ...resolveAll(auth.properties.headers) },
  });
}

function baseContext() {
  return {
    getNode: () => ({ name: node.description.defaults.name, type: node.description.name }),
    getWorkflowStaticData(type) {
      if (type !== 'node') throw new Error(`static data of type ${type} is not driven`);
      return staticData;
    },
    getNodeParameter(name, fallback) {
      if (name in settings.parameters) return settings.parameters[name];
      if (fallback !== undefined) return fallback;
      throw new Error(`Could not get parameter "${name}"`);
    },
    async getCredentials(type) {
      if (type !== credential.name) throw new Error(`unknown credential type ${type}`);
      return credentialValues();
    },
    helpers: { httpRequestWithAuthentication },
  };
}

function hookContext() {
  return { ...baseContext(), getNodeWebhookUrl: (name) => (name === 'default' ? settings.webhookUrl : undefined) };
}

function webhookContext(command) {
  const raw = Buffer.from(command.body, 'base64');
  const headers = Object.fromEntries(Object.entries(command.headers).map(([k, v]) => [k.toLowerCase(), v]));
  let body = {};
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {}
  // As in n8n, the raw body is read on demand (readRawBody) before it is there.
  const request = { headers, body, rawBody: undefined, readRawBody: async () => { request.rawBody = raw; } };
  const response = { status: null, sent: null, headers: {} };
  const res = {
    status(code) { response.status = code; return res; },
    send(data) { response.sent = data === undefined ? null : String(data); return res; },
    json(data) { response.sent = JSON.stringify(data); return res; },
    end(data) { if (data !== undefined) response.sent = String(data); return res; },
    setHeader(name, value) { response.headers[name] = value; return res; },
  };
  const context = {
    ...baseContext(),
    getRequestObject: () => request,
    getResponseObject: () => res,
    getHeaderData: () => headers,
    getBodyData: () => body,
  };
  return { context, response };
}

async function run(command) {
  calls = [];
  switch (command.op) {
    case 'configure':
      settings = { ...settings, ...command };
      return {};
    case 'forget':
      staticData = {};
      return { staticData };
    case 'checkExists':
    case 'create':
    case 'delete': {
      const result = await node.webhookMethods.default[command.op].call(hookContext());
      return { result, staticData, calls };
    }
    case 'testCredential': {
      const request = credential.test.request;
      const answer = await httpRequestWithAuthentication(credential.name, {
        method: request.method || 'GET',
        baseURL: resolve(request.baseURL),
        url: request.url,
        json: true,
        returnFullResponse: true,
        ignoreHttpStatusErrors: true,
      });
      return { status: answer.statusCode, calls };
    }
    case 'webhook': {
      const { context, response } = webhookContext(command);
      const answer = await node.webhook.call(context);
      return { ...response, noWebhookResponse: Boolean(answer.noWebhookResponse), workflowData: answer.workflowData ?? null };
    }
    default:
      throw new Error(`unknown op ${command.op}`);
  }
}

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    let answer;
    try {
      answer = { ok: true, ...(await run(JSON.parse(line))) };
    } catch (error) {
      answer = { ok: false, error: String(error && error.message ? error.message : error), name: error && error.name };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  });
});
