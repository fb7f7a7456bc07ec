// The example app: www/index.html (the demo stamps it with each run) for every GET.
const { readFileSync } = require('node:fs');
const { createServer } = require('node:http');
const { join } = require('node:path');

const page = readFileSync(join(__dirname, 'www/index.html'));

const server = createServer((req, res) => {
  // X-Real-IP: the client's address, set by the proxy (whose own address is the socket's).
  console.log(`${req.method} ${req.url} from ${req.headers['x-real-ip'] ?? req.socket.remoteAddress}`);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': page.length });
  res.end(req.method === 'HEAD' ? undefined : page);
});

// As PID 1 without an init (ec2-deploy runs it alone), node gets no default SIGTERM action:
// without a handler, docker stop waits its 10 s and kills.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});

server.listen(3000, () => console.log('app: listening on :3000'));
