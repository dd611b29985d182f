// The user-login webhook on Fastify, as a Node.js user would write it.
import Fastify from 'fastify';
import { announce, login } from './login.mjs';

const app = Fastify({ logger: false });
app.post('/login', async (request, reply) => {
  const [status, body] = login(request.body.input);
  return reply.code(status).send(body);
});
await app.listen({ port: 0, host: '127.0.0.1' });
announce(app.server.address().port);
