// A real OpenID provider for ratsflow's tests: panva's oidc-provider (OpenID Foundation certified).
//
//   node tests/oidc/provider.mjs <config.json>
//
// The config file (written by the pytest fixture, tests/oidc_fixture.py) names
//   port        the loopback port to listen on; the issuer is http://127.0.0.1:<port>
//   clients     oidc-provider client metadata (client_id, client_secret, redirect_uris, ...)
//   jwks        the private signing keys {"keys": [...]} (the fixture keeps them to sign its own tokens)
//   users_file  a JSON file {"<login>": {"name", "email", "preferred_username", "groups", ...}}
//               read again at every findAccount: a test changes a user's groups between logins.
//
// Login: oidc-provider's devInteractions form (fields "login" and "password"; any password is
// accepted, unknown logins are refused); consent is granted without a prompt (loadExistingGrant).
// PKCE is required for every client. RP-initiated logout is on (end_session_endpoint).
import { readFileSync } from 'node:fs';
import process from 'node:process';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;

function users() {
  return JSON.parse(readFileSync(config.users_file, 'utf8'));
}

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: ['ratsflow-test-provider-cookie-key'] },
  // Every granted scope's claims go into the ID token too (as Keycloak's mappers do).
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  scopes: ['openid', 'profile', 'email', 'groups'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  async findAccount(ctx, id) {
    const user = users()[id];
    if (!user) {
      return undefined;
    }
    return {
      accountId: id,
      async claims() {
        return { ...users()[id], sub: id }; // the login is the subject
      },
    };
  },
  // Consent without a prompt: a grant of everything the client asked for.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      return ctx.oidc.provider.Grant.find(grantId);
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ')
      : 'openid profile email groups');
    await grant.save();
    return grant;
  },
});

// Every request on stderr: the tests read which endpoints were called (e.g. end_session).
provider.use(async (ctx, next) => {
  process.stderr.write(`${ctx.method} ${ctx.url}\n`);
  await next();
});

const server = provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
