// The benchmark's baseline, the physical floor of a hook call: a bare node:http server on the same
// Node that reads and parses the same JSON body and answers a fixed, pre-built card response. The
// service's cost above this is the cost of its own work.
import { readFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';

const response = readFileSync(process.env.BASELINE_RESPONSE, 'utf8');
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    try {
      if (chunks.length > 0) JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(response);
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('baseline listening'));
