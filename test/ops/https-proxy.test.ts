// The HTTPS recipes of config/: nginx and Caddy, run as shipped (names, ports and certificate swapped for a self-signed one
// on loopback) in front of a daemon with trustProxy: 1. The webhook answers through them, the daemon sees the client's own
// address (not a forged X-Forwarded-For), and the admin API is not reachable through them.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { findOnPath } from '../../src/ops/redis-supervisor.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../helpers/env.ts';

const root = new URL('../../', import.meta.url);
// The recipe as shipped, its comments left out.
const shipped = (file: string) => readFileSync(new URL(file, root), 'utf8').split('\n').filter((line) => !/^\s*#/.test(line)).join('\n');
const CLIENT = '127.0.0.5';
const OTHER_CLIENT = '127.0.0.9';
const PASSPHRASE = 'proxy-recipe-passphrase-1';

async function sparePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Answer { status: number; body: string }
function call(port: number, ca: string, options: { path: string; from: string; body?: string; headers?: Record<string, string> }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: options.path, method: options.body ? 'POST' : 'GET', localAddress: options.from, ca,
      headers: { ...(options.body ? { 'content-type': 'application/json' } : {}), ...options.headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const alert = (id: string) => JSON.stringify({ passphrase: PASSPHRASE, ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100', id });

const nginx = findOnPath('nginx') ?? (findOnPath('nginx', '/usr/sbin:/usr/local/sbin'));
const caddy = findOnPath('caddy');
const openssl = findOnPath('openssl');

describe('the HTTPS recipes', () => {
  const dir = tempDir('tw-proxy');
  const prefix = uniquePrefix('proxy');
  let daemon: Daemon;
  let daemonPort: number;
  let cert: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    const file = join(dir.path, 'tradewire.yaml');
    // What the recipes say to set: one proxy in front. The allow-list shows which address the daemon believes.
    writeFileSync(file, `server: { trustProxy: 1, allowedSources: ["${CLIENT}"] }\naccounts:\n  paper: { broker: paper }\n`
      + 'strategies:\n  default:\n    subscriptions: [{ account: paper }]\n');
    daemon = await startDaemon({ CONFIG_FILE: file, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
      DATABASE_PATH: join(dir.path, 'trading.db'), WEBHOOK_PASSPHRASE: PASSPHRASE, ADMIN_TOKEN: 'proxy-admin-token-1' },
    createLogger({ level: 'silent', destination: { write: () => undefined } }));
    daemonPort = Number(new URL(daemon.url).port);
    if (openssl) {
      execFileSync(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir.path, 'key.pem'), '-out', join(dir.path, 'cert.pem')], { stdio: 'ignore' });
      cert = readFileSync(join(dir.path, 'cert.pem'), 'utf8');
    }
  }, 30_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.all(children.map((child) => (child.exitCode === null ? new Promise((r) => child.once('exit', r)) : undefined)));
    await daemon.stop();
    await dropRedisPrefix(prefix);
    dir.cleanup();
  });

  async function checkThrough(port: number, label: string) {
    // The client's own address reaches the daemon: on the allow-list, taken.
    const taken = await call(port, cert, { path: '/webhook', from: CLIENT, body: alert(`${label}-1`) });
    expect(taken.status).toBe(202);
    // A client off the list that writes the listed address into X-Forwarded-For is still itself.
    const forged = await call(port, cert, { path: '/webhook', from: OTHER_CLIENT, body: alert(`${label}-2`), headers: { 'x-forwarded-for': CLIENT } });
    expect(forged.status).toBe(403);
    expect(JSON.parse(forged.body)).toEqual({ error: 'forbidden_source' });
    // The admin API and the dashboard are not behind the proxy.
    expect((await call(port, cert, { path: '/api/positions', from: CLIENT, headers: { authorization: 'Bearer proxy-admin-token-1' } })).status).toBe(404);
    expect((await call(port, cert, { path: '/dashboard/', from: CLIENT })).status).toBe(404);
  }

  async function started(child: ChildProcess, port: number, log: () => string) {
    children.push(child);
    await until(`the proxy to listen on ${port} (${log()})`, async () => {
      if (child.exitCode !== null) throw new Error(`the proxy exited: ${log()}`);
      try {
        await call(port, cert, { path: '/', from: CLIENT });
        return true;
      } catch {
        return undefined;
      }
    }, 15_000);
  }

  it.skipIf(!nginx || !openssl)(`nginx: config/nginx-tradewire.conf${nginx ? '' : ' (skipped: no nginx binary; apt-get install nginx-light)'}`, async () => {
    expect(daemon.url).toMatch(/^http:\/\/127\.0\.0\.1:/);
    // Direct, without a proxy, the daemon sees 127.0.0.1: off the allow-list.
    const direct = await fetch(`${daemon.url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: alert('proxy-0') });
    expect(direct.status).toBe(403);

    const port = await sparePort();
    const site = shipped('config/nginx-tradewire.conf')
      .replace(/server \{\n {4}listen 80;[\s\S]*?\n\}\n/, '')
      .replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
      .replace(/\/etc\/letsencrypt\/live\/alerts\.example\.com\/fullchain\.pem/, join(dir.path, 'cert.pem'))
      .replace(/\/etc\/letsencrypt\/live\/alerts\.example\.com\/privkey\.pem/, join(dir.path, 'key.pem'))
      .replace('http://127.0.0.1:8080', `http://127.0.0.1:${daemonPort}`);
    expect(site).not.toMatch(/listen 80|letsencrypt|:8080/);
    const temp = join(dir.path, 'nginx');
    execFileSync('mkdir', ['-p', temp]);
    const main = `daemon off;\nmaster_process off;\npid ${temp}/nginx.pid;\nerror_log ${temp}/error.log warn;\nevents {}\nhttp {\n`
      + `  access_log off;\n  client_body_temp_path ${temp}/body;\n  proxy_temp_path ${temp}/proxy;\n  fastcgi_temp_path ${temp}/fastcgi;\n`
      + `  uwsgi_temp_path ${temp}/uwsgi;\n  scgi_temp_path ${temp}/scgi;\n${site}\n}\n`;
    writeFileSync(join(temp, 'nginx.conf'), main);
    let log = '';
    const child = spawn(nginx!, ['-p', temp, '-c', join(temp, 'nginx.conf'), '-e', join(temp, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { log += chunk; });
    await started(child, port, () => log);
    await checkThrough(port, 'nginx');
  }, 40_000);

  it.skipIf(!caddy || !openssl)(`Caddy: config/Caddyfile${caddy ? '' : ' (skipped: no caddy binary; apt-get install caddy)'}`, async () => {
    const port = await sparePort();
    const site = shipped('config/Caddyfile')
      .replace('alerts.example.com {', `https://127.0.0.1:${port} {\n\ttls ${join(dir.path, 'cert.pem')} ${join(dir.path, 'key.pem')}`)
      .replace('reverse_proxy 127.0.0.1:8080', `reverse_proxy 127.0.0.1:${daemonPort}`);
    expect(site).not.toMatch(/example\.com|:8080/);
    // No admin endpoint, no redirect listener on :80, a client without SNI (an IP address) gets this certificate.
    const file = join(dir.path, 'Caddyfile');
    writeFileSync(file, `{\n\tadmin off\n\tauto_https disable_redirects\n\tdefault_sni 127.0.0.1\n\tstorage file_system ${join(dir.path, 'caddy')}\n}\n\n${site}`);
    let log = '';
    const child = spawn(caddy!, ['run', '--config', file, '--adapter', 'caddyfile'], {
      env: { PATH: process.env.PATH, HOME: dir.path, XDG_DATA_HOME: join(dir.path, 'xdg-data'), XDG_CONFIG_HOME: join(dir.path, 'xdg-config') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { log += chunk; });
    await started(child, port, () => log.slice(-2000));
    await checkThrough(port, 'caddy');
  }, 40_000);
});
