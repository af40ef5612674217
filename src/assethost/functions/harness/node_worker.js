'use strict';
/*
 * assethost's Node harness: one long-lived process per (build, worker slot), started by
 * assethost.functions.workers in its own sandbox (functions/sandbox.py), with cwd = the build's
 * folder (/srv/build) and a clean environment. Arguments: the message descriptor, the largest
 * response body the server takes, and (with `--function-network public`) the egress proxy's
 * socket, through which every connection of the http and https modules is tunnelled.
 *
 * Protocol: invocations arrive as JSON lines on stdin; results and log lines leave as JSON lines
 * on fd 3, so whatever user code writes to stdout/stderr can never corrupt a reply (the server
 * keeps those streams as log lines too). A result line is followed by `length` raw body bytes.
 *
 *   in:  {"type":"call","id":7,"fn":"/hello","context":{...},"event":{...},"twilio_api":null}
 *        {"type":"ping","id":8}   {"type":"abandon","id":7}
 *   out: {"type":"result","id":7,"status":200,"headers":[["content-type","text/plain"]],"length":5}hello
 *        {"type":"result","id":7,"oversize":41943040,"length":0}   (a body over the limit)
 *        {"type":"log","id":7,"level":"info","message":"..."}   {"type":"pong","id":8}
 */
const fs = require('fs');
const path = require('path');
const util = require('util');
const readline = require('readline');
const { AsyncLocalStorage } = require('async_hooks');

const BUILD_DIR = process.cwd();
const MANIFEST = JSON.parse(fs.readFileSync(path.join(BUILD_DIR, '.assethost-build.json'), 'utf8'));
const OUT_FD = Number(process.argv[2] || 3);
const MAX_BODY = Number(process.argv[3] || 20 * 1024 * 1024);
const EGRESS = process.argv[4] || '';
// What the server keeps of a call's log (functions/logs.py): more would only cost the pipe and the
// server's time, so it is not sent (one line more lets the server say the output was cut).
const LOG_LIMIT = 8 * 1024 + 1;
const CALL_LINES = 1001;
const CALL_BYTES = 1024 * 1024 + 1;
const logged = new Map(); // call id (or null) -> [lines, bytes] sent
const calls = new AsyncLocalStorage();
const open = new Map(); // id -> finish(result)

function write(data) {
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += fs.writeSync(OUT_FD, data, offset, data.length - offset);
    } catch (err) {
      if (err.code !== 'EAGAIN') { process.exit(71); }
    }
  }
}

function send(message) {
  write(Buffer.from(JSON.stringify(message) + '\n', 'utf8'));
}

function sendResult(id, status, headers, body) {
  if (body.length > MAX_BODY) {
    send({ type: 'result', id, oversize: body.length, length: 0 });
    return;
  }
  const head = Buffer.from(JSON.stringify({ type: 'result', id, status, headers, length: body.length }) + '\n');
  // One write for a small answer (a system call saved per call); a large body is not copied.
  if (body.length <= 65536) write(Buffer.concat([head, body]));
  else { write(head); write(body); }
}

function logLine(id, level, message) {
  const key = id === undefined ? null : id;
  let sent = logged.get(key);
  if (!sent) {
    if (logged.size >= 1000) logged.delete(logged.keys().next().value); // the oldest call's
    sent = [0, 0];
    logged.set(key, sent);
  }
  if (sent[0] >= CALL_LINES || sent[1] >= CALL_BYTES) return;
  const text = message.length > LOG_LIMIT ? message.slice(0, LOG_LIMIT) + '…' : message;
  sent[0] += 1;
  sent[1] += text.length;
  send({ type: 'log', id: key, level, message: text });
}

// --- logs: console.* goes to the invocation it was called from -----------------------------
// Twilio's Log resource names the levels info, warning and error.
const LEVELS = { log: 'info', info: 'info', debug: 'info', trace: 'info', warn: 'warning', error: 'error' };
for (const [method, level] of Object.entries(LEVELS)) {
  console[method] = (...args) => {
    logLine(calls.getStore(), level, util.format(...args));
  };
}

// --- the network: only through the egress proxy (functions/egress.py) ------------------------
// The sandbox has no network of its own. Every Agent's connection (http, https, and so the
// libraries built on them: twilio, axios, got…) is opened as a CONNECT tunnel through the
// proxy's socket, which reaches public addresses only. fetch() has no Agent and stays offline.
function tunnel(host, port, done) {
  const net = require('net');
  const sock = net.connect(EGRESS);
  let head = Buffer.alloc(0);
  let settled = false;
  const fail = (err) => { if (!settled) { settled = true; sock.destroy(); done(err); } };
  sock.on('error', fail);
  sock.on('connect', () => {
    const authority = `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
    sock.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  });
  const onReadable = () => {
    let chunk;
    while (!settled && (chunk = sock.read()) !== null) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) {
        if (head.length > 8192) fail(new Error('egress proxy: answer too long'));
        continue;
      }
      sock.removeListener('readable', onReadable);
      const status = head.subarray(0, end).toString('latin1').split('\r\n')[0];
      if (!/^HTTP\/1\.[01] 200 /.test(status)) {
        const err = new Error(`cannot connect to ${host}:${port}: ${head.subarray(end + 4).toString().trim() || status}`);
        err.code = 'EGRESS_REFUSED';
        fail(err);
        return;
      }
      if (end + 4 < head.length) sock.unshift(head.subarray(end + 4));
      settled = true;
      sock.removeListener('error', fail);
      done(null, sock);
    }
  };
  sock.on('readable', onReadable);
}

if (EGRESS) {
  const http = require('http');
  const https = require('https');
  const tls = require('tls');
  http.Agent.prototype.createConnection = function createConnection(options, done) {
    tunnel(options.host || 'localhost', options.port || 80, done);
  };
  https.Agent.prototype.createConnection = function createConnection(options, done) {
    const host = options.host || 'localhost';
    tunnel(host, options.port || 443, (err, raw) => {
      if (err) { done(err); return; }
      const servername = options.servername || (require('net').isIP(host) ? undefined : host);
      done(null, tls.connect({ ...options, socket: raw, servername }));
    });
  };
}

// --- Runtime ------------------------------------------------------------------------------
function getAssets() {
  const out = {};
  for (const [assetPath, file] of Object.entries(MANIFEST.assets)) {
    const abs = path.join(BUILD_DIR, file);
    out[assetPath] = { path: abs, open: () => fs.readFileSync(abs, 'utf8') };
  }
  return out;
}

function getFunctions() {
  const out = {};
  for (const [fnPath, fn] of Object.entries(MANIFEST.functions)) {
    out[fnPath.replace(/^\//, '')] = { path: path.join(BUILD_DIR, fn.file) };
  }
  return out;
}

const Runtime = {
  getAssets,
  getFunctions,
  getSync() { throw new Error('Runtime.getSync() is not supported by assethost (there is no Sync service here)'); },
};

// --- Twilio.Response ----------------------------------------------------------------------
class Response {
  constructor(options) {
    this.statusCode = 200;
    this.body = undefined;
    this.headers = {};
    if (options) {
      if (options.statusCode !== undefined) this.statusCode = options.statusCode;
      if (options.body !== undefined) this.body = options.body;
      if (options.headers) this.setHeaders(options.headers);
    }
  }
  setStatusCode(code) { this.statusCode = code; return this; }
  setBody(body) { this.body = body; return this; }
  setHeaders(headers) {
    if (typeof headers !== 'object' || headers === null) throw new Error('Headers must be an object');
    this.headers = {};
    for (const [k, v] of Object.entries(headers)) this.appendHeader(k, v);
    return this;
  }
  appendHeader(key, value) {
    const existing = this.headers[key];
    if (key.toLowerCase() === 'set-cookie') {
      const list = Array.isArray(existing) ? existing : existing === undefined ? [] : [existing];
      this.headers[key] = list.concat(Array.isArray(value) ? value : [value]);
    } else if (existing === undefined) {
      this.headers[key] = value;
    } else {
      this.headers[key] = (Array.isArray(existing) ? existing : [existing]).concat(value);
    }
    return this;
  }
  setCookie(key, value, attributes = []) {
    return this.appendHeader('Set-Cookie', [`${key}=${value}`].concat(attributes).join(';'));
  }
  removeCookie(key) { return this.setCookie(key, '', ['Max-Age=0']); }
}

// --- Twilio: the real package when the build installed it, else a small stand-in -----------
function escapeXml(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

class TwimlNode {
  constructor(name, attrs, text) {
    this.name = name; this.attrs = attrs || {}; this.text = text; this.children = [];
  }
  _add(name, attrs, text) {
    if (typeof attrs === 'string' || typeof attrs === 'number') { text = attrs; attrs = {}; }
    const node = new TwimlNode(name, attrs, text);
    this.children.push(node);
    return node;
  }
  _render() {
    const attrs = Object.entries(this.attrs).filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` ${k}="${escapeXml(v)}"`).join('');
    const inner = (this.text !== undefined ? escapeXml(this.text) : '') + this.children.map((c) => c._render()).join('');
    return inner ? `<${this.name}${attrs}>${inner}</${this.name}>` : `<${this.name}${attrs}/>`;
  }
}
const VERBS = ['say', 'play', 'pause', 'gather', 'dial', 'number', 'client', 'conference', 'queue', 'sip',
  'record', 'redirect', 'reject', 'hangup', 'enqueue', 'leave', 'sms', 'message', 'body', 'media', 'connect',
  'stream', 'start', 'stop', 'refer', 'prompt', 'pay'];
for (const verb of VERBS) {
  const tag = verb.charAt(0).toUpperCase() + verb.slice(1);
  TwimlNode.prototype[verb] = function verbMethod(attrs, text) { return this._add(tag, attrs, text); };
}
class TwimlResponse extends TwimlNode {
  constructor() { super('Response'); }
  toString() { return '<?xml version="1.0" encoding="UTF-8"?>' + this._render(); }
}
class VoiceResponse extends TwimlResponse {}
class MessagingResponse extends TwimlResponse {}
class FaxResponse extends TwimlResponse {}

let twilioPackage = null;
try {
  twilioPackage = require(require.resolve('twilio', { paths: [BUILD_DIR] }));
} catch (err) {
  twilioPackage = null;
}
const Twilio = twilioPackage || { twiml: { VoiceResponse, MessagingResponse, FaxResponse } };

// getTwilioClient(): the build's own twilio when it lists one, else the package the server shares
// with every build (mounted read-only at /srv/runtime), loaded at the first use only.
const RUNTIME_DIR = '/srv/runtime';
let sharedTwilio;
function clientPackage() {
  if (twilioPackage && MANIFEST.twilio_dependency) return twilioPackage;
  if (sharedTwilio === undefined) {
    try {
      sharedTwilio = require(require.resolve('twilio', { paths: [RUNTIME_DIR] }));
    } catch (err) {
      sharedTwilio = null;
    }
  }
  return sharedTwilio;
}

// With --twilio-api-url, every request of the client goes to that origin instead of
// https://<product>.twilio.com, path and query kept.
function redirecting(pkg, api) {
  class Redirected extends pkg.RequestClient {
    request(opts) {
      const url = new URL(opts.uri);
      return super.request(Object.assign({}, opts, { uri: api + url.pathname + url.search }));
    }
  }
  return new Redirected();
}

function twilioClient(context, api, options) {
  const pkg = clientPackage();
  if (!pkg) {
    throw new Error('getTwilioClient(): the twilio package is not installed on this server (its log says why); '
      + 'list "twilio" among the build\'s dependencies to use your own');
  }
  const opts = Object.assign({}, options);
  if (api && !opts.httpClient && typeof pkg.RequestClient === 'function') opts.httpClient = redirecting(pkg, api);
  return pkg(context.ACCOUNT_SID, context.AUTH_TOKEN, opts);
}
Twilio.Response = Response;
global.Twilio = Twilio;
global.Runtime = Runtime;
global.Functions = getFunctions();

function isTwiml(value) {
  if (value instanceof TwimlResponse) return true;
  const name = value && value.constructor && value.constructor.name;
  return ['VoiceResponse', 'MessagingResponse', 'FaxResponse'].includes(name) && typeof value.toString === 'function';
}

// --- turning a callback into an HTTP answer -----------------------------------------------
function headerPairs(headers) {
  const pairs = [];
  for (const [k, v] of Object.entries(headers || {})) {
    for (const item of Array.isArray(v) ? v : [v]) pairs.push([String(k), String(item)]);
  }
  return pairs;
}

function bodyBytes(body, pairs) {
  const type = pairs.find(([k]) => k.toLowerCase() === 'content-type');
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (!type) pairs.push(['Content-Type', 'application/json']);
  return Buffer.from(JSON.stringify(body), 'utf8');
}

function answer(err, payload) {
  if (err) {
    const error = err instanceof Error ? err : new Error(typeof err === 'string' ? err : util.inspect(err));
    return {
      status: 500,
      headers: [['Content-Type', 'application/json']],
      body: Buffer.from(JSON.stringify({ message: error.message, name: error.name })),
      error: error.stack || String(error),
    };
  }
  if (payload === undefined || payload === null) return { status: 200, headers: [], body: Buffer.alloc(0) };
  if (payload instanceof Response) {
    const pairs = headerPairs(payload.headers);
    return { status: Number(payload.statusCode) || 200, headers: pairs, body: bodyBytes(payload.body, pairs) };
  }
  if (isTwiml(payload)) {
    return { status: 200, headers: [['Content-Type', 'text/xml; charset=utf-8']], body: Buffer.from(payload.toString()) };
  }
  if (typeof payload === 'string') {
    return { status: 200, headers: [['Content-Type', 'text/plain; charset=utf-8']], body: Buffer.from(payload) };
  }
  if (Buffer.isBuffer(payload)) {
    return { status: 200, headers: [['Content-Type', 'application/octet-stream']], body: payload };
  }
  return { status: 200, headers: [['Content-Type', 'application/json']], body: Buffer.from(JSON.stringify(payload)) };
}

function finishCall(id, result) {
  const done = open.get(id);
  if (done) done(result);
}

function invoke(msg) {
  const { id } = msg;
  let finished = false;
  open.set(id, (result) => {
    if (finished) return;
    finished = true;
    open.delete(id);
    if (result.error) logLine(id, 'error', result.error);
    const body = Buffer.isBuffer(result.body) ? result.body : Buffer.alloc(0);
    sendResult(id, result.status, result.headers, body);
  });
  calls.run(id, () => {
    try {
      const entry = MANIFEST.functions[msg.fn];
      if (!entry) throw new Error(`no function at ${msg.fn}`);
      const mod = require(path.join(BUILD_DIR, entry.file));
      if (typeof mod.handler !== 'function') throw new Error(`${msg.fn} does not export a handler function`);
      const context = Object.assign({}, msg.context);
      context.getTwilioClient = (options) => twilioClient(context, msg.twilio_api, options);
      const callback = (err, payload) => {
        let result;
        try { result = answer(err, payload); } catch (e) { result = answer(e); }
        finishCall(id, result);
      };
      const returned = mod.handler(context, msg.event, callback);
      if (returned && typeof returned.then === 'function') {
        returned.then(undefined, (e) => finishCall(id, answer(e || new Error('handler promise rejected'))));
      }
    } catch (e) {
      finishCall(id, answer(e));
    }
  });
}

process.on('uncaughtException', (err) => {
  const id = calls.getStore();
  if (id !== undefined && open.has(id)) {
    finishCall(id, answer(err));
    return;
  }
  logLine(null, 'error', 'uncaught: ' + (err && err.stack ? err.stack : String(err)));
  process.exit(70);
});
process.on('unhandledRejection', (reason) => {
  const id = calls.getStore();
  if (id !== undefined && open.has(id)) finishCall(id, answer(reason || new Error('unhandled rejection')));
  else logLine(null, 'error', 'unhandled rejection: ' + util.inspect(reason));
});

// Near its CPU time limit (the soft RLIMIT_CPU): ask to be replaced; the server sends no new
// call and stops this process once the calls in flight are done.
let retiring = false;
process.on('SIGXCPU', () => {
  if (!retiring) { retiring = true; send({ type: 'retire', id: null }); }
});

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  if (!line) return;
  let msg;
  try { msg = JSON.parse(line); } catch (e) { return; }
  if (msg.type === 'call') invoke(msg);
  else if (msg.type === 'ping') send({ type: 'pong', id: msg.id });
  else if (msg.type === 'abandon') open.delete(msg.id);
});
rl.on('close', () => process.exit(0));
send({ type: 'ready', id: null });
