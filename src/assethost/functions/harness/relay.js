'use strict';
/*
 * Runs a command inside a sandbox with a way out through assethost's egress proxy
 * (functions/egress.py): listens on the sandbox's own loopback and forwards each connection to
 * the proxy's Unix socket, then runs the command (a Node script) with the rest of the arguments
 * and exits as it does. The command is told to use http://127.0.0.1:<port> as its proxy.
 *
 *   node relay.js <proxy socket> <port> <script> [args...]
 */
const net = require('net');
const { spawn } = require('child_process');

const [socketPath, port, ...command] = process.argv.slice(2);

const relay = net.createServer((client) => {
  const upstream = net.connect(socketPath);
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});

relay.listen(Number(port), '127.0.0.1', () => {
  const child = spawn(process.execPath, command, { stdio: 'inherit' });
  child.on('exit', (code, signal) => {
    process.exit(code !== null ? code : 128 + (require('os').constants.signals[signal] || 0));
  });
  child.on('error', () => process.exit(127));
});
relay.on('error', (err) => {
  process.stderr.write(`assethost relay: ${err.message}\n`);
  process.exit(126);
});
