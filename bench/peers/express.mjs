// The user-login webhook on Express, as a Node.js user would write it.
import express from 'express';
import { announce, login } from './login.mjs';

const app = express();
app.use(express.json());
app.post('/login', (req, res) => {
  const [status, body] = login(req.body.input);
  res.status(status).json(body);
});
const server = app.listen(0, '127.0.0.1', () => announce(server.address().port));
