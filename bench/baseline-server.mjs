// The benchmark's baseline: a bare express app on the same Node that parses the same JSON body and
// answers a fixed, pre-built card response. The service's cost above this is the cost of its work.
import { readFileSync } from 'node:fs';
import express from 'express';

const response = readFileSync(process.env.BASELINE_RESPONSE, 'utf8');
const app = express();
app.use(express.json({ limit: '10mb', type: () => true }));
app.post('/cds-services/:id', (_req, res) => {
  res.type('application/json').send(response);
});
app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('baseline listening'));
