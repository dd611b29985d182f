// The user-login guest's logic, byte for byte, for the Node.js webhook peers.
export function userId(username) {
  let hash = 7;
  for (const byte of new TextEncoder().encode(username)) {
    hash = (Math.imul(hash, 31) + byte) | 0;
  }
  return ((hash % 100000) + 100000) % 100000;
}

export function login(input) {
  if (input.password !== 'secret') {
    return [400, { message: 'invalid credentials', extensions: { code: 'invalid-credentials' } }];
  }
  return [200, { accessToken: `token-for-${input.username}`, userId: userId(input.username) }];
}

// The line hookwing-bench waits for: the webhook's URL.
export function announce(port) {
  console.log(`hookwing-bench: http://127.0.0.1:${port}/login`);
}
