// A real OpenID provider (the certified `oidc-provider` package) on a loopback port, for the
// sign-in tests. tests/oidc/conftest.py starts it and reads the "listening <port>" line.
//
// Beyond the package itself, only what the tests need to play the parts a provider plays:
//  - a plain login form (any account name signs in; an account marked disabled is refused),
//    and consent granted without asking, as an organisation's own provider does;
//  - POST /__test/accounts: the claims of accounts (groups, a disabled flag);
//  - POST /__test/tamper: the next ID token from the token endpoint comes back altered — with a
//    wrong nonce, expired, or signed with a key the provider does not publish — as a forger or a
//    broken provider would hand it out. The client under test must refuse each.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair } from 'jose';

const port = Number(process.env.PORT || 0);
const accounts = new Map(); // account id -> { claims, disabled }
let tamper = null;

async function signingKey(kid) {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { privateKey, jwk: { ...jwk, kid, alg: 'RS256', use: 'sig' } };
}

const published = await signingKey('signing-key');
// The same key id as the published one, so only the signature itself can tell them apart.
const foreign = await signingKey('signing-key');

function page(body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Test provider</title></head><body>${body}</body></html>`;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  const issuer = `http://127.0.0.1:${actual}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [published.jwk] },
    clients: [],
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = page(`${form}<button id="confirm-logout" type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`);
        },
      },
    },
    pkce: { required: () => true },
    // The provider refuses to call special-use addresses (SSRF protection); here the service it
    // must call for back-channel logout is on loopback, by design of the test.
    fetch: (url, options) => {
      delete options.dispatcher;
      return globalThis.fetch(url, options);
    },
    claims: { openid: ['sub', 'oid'], profile: ['name', 'email', 'groups'] },
    // The claims go in the ID token itself, as Entra ID puts `oid` and `groups` there.
    conformIdTokenClaims: false,
    cookies: { keys: ['test-provider-cookie-key'] },
    ttl: { IdToken: 3600, AccessToken: 3600, Session: 3600, Interaction: 600, Grant: 3600 },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return { sub: id, name: `Official ${id}`, ...(accounts.get(id)?.claims || {}) };
        },
      };
    },
    async loadExistingGrant(ctx) {
      // Consent is the organisation's, given once for all its staff: every request is granted.
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
      await grant.save();
      return grant;
    },
  });

  provider.use(async (ctx, next) => {
    if (ctx.path === '/__test/accounts' && ctx.method === 'POST') {
      const body = JSON.parse((await readBody(ctx.req)) || '{}');
      for (const [id, value] of Object.entries(body)) accounts.set(id, value);
      ctx.status = 204;
      return;
    }
    if (ctx.path === '/__test/tamper' && ctx.method === 'POST') {
      tamper = JSON.parse((await readBody(ctx.req)) || '{}').mode || null;
      ctx.status = 204;
      return;
    }
    const match = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (match) {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      if (ctx.method === 'GET' && details.prompt.name === 'login') {
        ctx.type = 'html';
        ctx.body = page(`<form method="post" action="/interaction/${details.uid}/login">
          <label>Account <input id="account" name="login" autofocus></label>
          <button id="sign-in" type="submit">Sign in</button></form>`);
        return;
      }
      if (ctx.method === 'POST' && match[2]) {
        const login = new URLSearchParams(await readBody(ctx.req)).get('login') || '';
        const result = accounts.get(login)?.disabled
          ? { error: 'access_denied', error_description: 'The account is disabled' }
          : { login: { accountId: login } };
        await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
        return;
      }
      // Any other prompt (consent) is granted by loadExistingGrant; finish it.
      await provider.interactionFinished(ctx.req, ctx.res, { consent: {} }, { mergeWithLastSubmission: true });
      return;
    }
    await next();
    if (ctx.path === '/token' && tamper && ctx.body && ctx.body.id_token) {
      const claims = decodeJwt(ctx.body.id_token);
      let key = published.privateKey;
      const now = Math.floor(Date.now() / 1000);
      if (tamper === 'nonce') claims.nonce = 'a-nonce-this-client-never-sent';
      if (tamper === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
      if (tamper === 'foreign-key') key = foreign.privateKey;
      ctx.body = {
        ...ctx.body,
        id_token: await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'signing-key' }).sign(key),
      };
      tamper = null;
    }
  });

  provider.on('backchannel.error', (ctx, error, client) => {
    process.stdout.write(`backchannel logout to ${client.clientId} failed: ${error} ${error.cause}\n`);
  });
  provider.on('backchannel.success', (ctx, client) => {
    process.stdout.write(`backchannel logout to ${client.clientId} done\n`);
  });
  server.on('request', provider.callback());
  process.stdout.write(`listening ${actual}\n`);
});
