// An image-renderer style webhook receiver, as its users write one with Express: the raw
// body, a `t=<unix seconds>,v1=<hex>` signature header, a 300 s replay window, the hex
// HMAC-SHA256 of "<t>.<body>" keyed by the secret string, a constant-time comparison, and a
// switch on the body's `event`. 200 OK when it verifies, 401 otherwise.
//
//   SECRET=... [PORT=...] node receiver.js [header-name]
//
// Listens on 127.0.0.1 (PORT, else a free port) and writes JSON lines to stdout: first
// {"listening": PORT}, then one per request: {"status", "reason", "event", "handled",
// "body" (base64 of the raw bytes), "signature" (the header as received)}.
'use strict';

const crypto = require('node:crypto');
const express = require('express');

const SECRET = process.env.SECRET;
const HEADER = (process.argv[2] || 'X-Pictify-Signature').toLowerCase();
const TOLERANCE = 300; // seconds

if (!SECRET) {
  console.error('set SECRET to the hook secret');
  process.exit(2);
}

function report(fields) {
  process.stdout.write(JSON.stringify(fields) + '\n');
}

// Why a signature header does not verify the raw body, or null when it does.
function rejection(header, raw) {
  if (typeof header !== 'string' || header === '') return 'no signature header';
  let timestamp = null;
  const candidates = [];
  for (const item of header.split(',')) {
    const cut = item.indexOf('=');
    if (cut < 0) continue;
    const name = item.slice(0, cut).trim();
    const value = item.slice(cut + 1).trim();
    if (name === 't') timestamp = value;
    else if (name === 'v1') candidates.push(value);
  }
  if (timestamp === null || !/^\d+$/.test(timestamp)) return 'no timestamp';
  const age = Math.abs(Date.now() / 1000 - Number(timestamp));
  if (age > TOLERANCE) return `timestamp ${Math.round(age)} s away`;
  const expected = Buffer.from(
    crypto
      .createHmac('sha256', SECRET)
      .update(Buffer.concat([Buffer.from(`${timestamp}.`), raw]))
      .digest('hex'),
  );
  const matches = candidates.some((candidate) => {
    const given = Buffer.from(candidate);
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  });
  return matches ? null : 'signature mismatch';
}

const handlers = {
  'render.completed': (data) => `image ${data.imageId} at ${data.url}`,
  'render.failed': (data) => `failed: ${data.error}`,
  'batch.completed': (data) => `batch ${data.batchId}: ${data.completedCount} done`,
  'binding.updated': (data) => `binding ${data.bindingId} refreshed`,
};

const app = express();

app.post('/webhooks/pictify', express.raw({ type: 'application/json' }), (req, res) => {
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const header = req.get(HEADER);
  const seen = { body: raw.toString('base64'), signature: header ?? null };
  const reason = rejection(header, raw);
  if (reason !== null) {
    report({ ...seen, status: 401, reason });
    res.status(401).send('Invalid signature');
    return;
  }
  const event = JSON.parse(raw.toString('utf8'));
  const handler = handlers[event.event];
  const handled = handler ? handler(event.data) : null;
  report({ ...seen, status: 200, event: event.event, handled });
  res.status(200).send('OK');
});

const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  report({ listening: server.address().port });
});

process.stdin.resume();
process.stdin.on('end', () => server.close(() => process.exit(0)));
