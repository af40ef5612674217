'use strict';
/*
 * Points Twilio's Serverless Toolkit (twilio-run, @twilio-labs/serverless-api, the Twilio CLI's
 * serverless plugin) at an assethost instead of Twilio, with no change to the toolkit itself:
 *
 *   assethost toolkit -- deploy …      (sets both of these, then runs twilio-run)
 *   NODE_OPTIONS="--require /path/to/twilio-run-preload.js" ASSETHOST_API_URL=http://127.0.0.1:8080 twilio-run deploy …
 *
 * The toolkit has no setting for its API's address: it always calls https://serverless.twilio.com
 * (REST) and https://serverless-upload.twilio.com (uploads). Loaded before it, this file wraps
 * `https.request` so that a request for one of those hosts (or a regional form such as
 * serverless.dublin.ie1.twilio.com) goes to ASSETHOST_API_URL instead, path and query kept, with the
 * host it was meant for in an `X-Original-Host` header. Every other request is left alone.
 */
const http = require('http');
const https = require('https');

const target = new URL(process.env.ASSETHOST_API_URL || 'http://127.0.0.1:8080');
const SERVERLESS_HOST = /^serverless(-upload)?(\.[a-z0-9-]+)*\.twilio\.com$/i;

function destination(args) {
  // https.request(url[, options][, callback]) or https.request(options[, callback])
  let url = null;
  let options = {};
  let rest = args;
  if (typeof args[0] === 'string' || args[0] instanceof URL) {
    url = new URL(String(args[0]));
    rest = args.slice(1);
  }
  if (rest[0] && typeof rest[0] === 'object') {
    options = rest[0];
    rest = rest.slice(1);
  }
  const host = (url && url.hostname) || options.hostname || (options.host || '').replace(/:\d+$/, '');
  const path = options.path || (url ? url.pathname + url.search : '/');
  let auth = options.auth;
  if (!auth && url && url.username) auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return { host, path, auth, options, callback: rest.find((a) => typeof a === 'function') };
}

const originalRequest = https.request;
https.request = function request(...args) {
  const { host, path, auth, options, callback } = destination(args);
  if (!SERVERLESS_HOST.test(host || '')) return originalRequest.apply(this, args);
  const headers = { ...(options.headers || {}), 'x-original-host': host };
  const local = {
    ...options, protocol: target.protocol, hostname: target.hostname, host: target.hostname,
    port: target.port || (target.protocol === 'https:' ? 443 : 80), path, headers, auth,
    agent: undefined, // the toolkit's agent (keep-alive, or a proxy's) speaks TLS to Twilio
    servername: undefined,
  };
  const client = target.protocol === 'https:' ? originalRequest : http.request;
  return callback ? client(local, callback) : client(local);
};
https.get = function get(...args) {
  const req = https.request(...args);
  req.end();
  return req;
};
