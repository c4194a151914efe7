// The gateway's self-signed certificate is accepted only for the configured loopback gateway host: proved against a real
// HTTPS server on 127.0.0.1 with a certificate made by the openssl CLI in the test (msw is not used here: it answers before TLS).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IbkrBroker } from '../../../src/brokers/ibkr/ibkr-broker.ts';
import { gatewayFetch, isLoopbackHost, verifiesCertificate } from '../../../src/brokers/ibkr/gateway-tls.ts';
import { accountSchema } from '../../../src/config/schema.ts';
import { NetworkError } from '../../../src/domain/errors.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { tempDir } from '../../helpers/env.ts';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const OPENSSL = hasOpenssl();
const logger = createLogger({ level: 'silent' });

describe('which gateway hosts may skip certificate verification', () => {
  it('only the machine itself counts as a local gateway', () => {
    for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['gateway.example.com', '10.0.0.5', '192.168.1.20', 'localhost.example.com', '128.0.0.1']) expect(isLoopbackHost(host), host).toBe(false);
  });

  it('a local gateway is not verified unless asked; any other host is verified, and turning that off is refused', () => {
    expect(verifiesCertificate('https://localhost:5000/v1/api', undefined)).toBe(false);
    expect(verifiesCertificate('https://localhost:5000/v1/api', true)).toBe(true);
    expect(verifiesCertificate('https://gateway.example.com/v1/api', undefined)).toBe(true);
    expect(() => verifiesCertificate('https://gateway.example.com/v1/api', false)).toThrow(/only for a gateway on this machine/);
    expect(() => new IbkrBroker({ name: 'x', accountId: 'DU1', gatewayUrl: 'https://10.0.0.5:5000/v1/api', verifyCertificate: false, logger }))
      .toThrow(/only for a gateway on this machine/);
    // With verification on, the gateway client sends through plain fetch: no agent that skips verification exists.
    expect(gatewayFetch('https://gateway.example.com/v1/api', true)()).toBe(globalThis.fetch);
  });

  it('the config refuses verifyCertificate: false for a gateway on another host, and accepts it for localhost', () => {
    const config = (gatewayUrl: string) => accountSchema.safeParse({ broker: 'ibkr', accountId: 'DU1234567', gatewayUrl, verifyCertificate: false });
    const refused = config('https://gateway.example.com:5000/v1/api');
    expect(refused.success).toBe(false);
    expect(JSON.stringify(refused.error?.issues)).toContain('only for a gateway on this machine');
    expect(config('https://127.0.0.1:5000/v1/api').success).toBe(true);
  });
});

describe.skipIf(!OPENSSL)('a real HTTPS gateway on 127.0.0.1 with a self-signed certificate (openssl CLI)', () => {
  const dir = tempDir('tw-ibkr-tls');
  let server: Server;
  let port = 0;
  let served = 0;

  beforeAll(async () => {
    const key = join(dir.path, 'key.pem');
    const cert = join(dir.path, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      served += 1;
      res.setHeader('content-type', 'application/json');
      res.end(req.url === '/v1/api/iserver/auth/status' ? JSON.stringify({ authenticated: true, connected: true, competing: false }) : '{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    dir.cleanup();
  });

  it('Node refuses the certificate by default (so the acceptance below is the adapter\'s doing)', async () => {
    const error = await fetch(`https://127.0.0.1:${port}/v1/api/iserver/auth/status`, { method: 'POST' }).then(() => undefined, (e: unknown) => e);
    expect(String((error as { cause?: { code?: string } }).cause?.code)).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  });

  it('the adapter reaches the configured local gateway through its self-signed certificate', async () => {
    const broker = new IbkrBroker({ name: 'tls', accountId: 'DU1234567', gatewayUrl: `https://127.0.0.1:${port}/v1/api`, logger, timeoutMs: 5_000 });
    const before = served;
    expect(await broker.health()).toMatchObject({ ok: true });
    expect(served).toBeGreaterThan(before);
  });

  it('with verifyCertificate: true the same gateway is refused as a network failure', async () => {
    const broker = new IbkrBroker({ name: 'tls', accountId: 'DU1234567', gatewayUrl: `https://127.0.0.1:${port}/v1/api`, verifyCertificate: true, logger, timeoutMs: 5_000 });
    const health = await broker.health();
    expect(health.ok).toBe(false);
    await expect(broker.connect()).rejects.toBeInstanceOf(NetworkError);
  });

  it('the acceptance is scoped to the configured host: the same fetch keeps verification for any other host', async () => {
    // Configured as localhost; a request to 127.0.0.1 (the same server, another host name) is verified and refused.
    const scoped = gatewayFetch(`https://localhost:${port}/v1/api`, false)();
    const other = await scoped(`https://127.0.0.1:${port}/v1/api/iserver/auth/status`, { method: 'POST' }).then(() => undefined, (e: unknown) => e);
    expect(String((other as { cause?: { code?: string } }).cause?.code)).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    const own = await scoped(`https://localhost:${port}/v1/api/iserver/auth/status`, { method: 'POST' });
    expect(await own.json()).toMatchObject({ authenticated: true });
  });
});
