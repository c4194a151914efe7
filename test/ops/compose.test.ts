// docker-compose.yml: the daemon runs from a built image as an unprivileged user, and the checkout's node_modules is never the container's.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

interface Service { image?: string; build?: { context: string; dockerfile: string }; user?: string; command?: string[] | string;
  volumes?: string[]; environment?: Record<string, string> }
const compose = parse(read('docker-compose.yml')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const tradewire = compose.services.tradewire!;

describe('docker-compose.yml', () => {
  it('runs the daemon as the non-root node user, from an image built by config/Dockerfile', () => {
    expect(tradewire.user).toBe('node');
    expect(tradewire.build).toEqual({ context: '.', dockerfile: 'config/Dockerfile' });
    const dockerfile = read(tradewire.build!.dockerfile);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    // The container's command installs nothing: no npm ci at start, on whatever is mounted.
    expect(JSON.stringify(tradewire.command ?? '')).not.toMatch(/npm (ci|install)/);
  });

  it('never mounts the checkout (or its node_modules) into the container', () => {
    const mounts = (tradewire.volumes ?? []).map((volume) => volume.split(':'));
    for (const [source, target] of mounts) {
      expect(target).not.toBe('/app');
      expect(target).not.toMatch(/node_modules/);
      expect(source).not.toMatch(/^\.\/?$/);
      expect(source).not.toMatch(/node_modules/);
    }
    expect(mounts.map(([source, target]) => `${source}:${target}`)).toEqual(['./config:/app/config', 'tradewire-data:/app/data']);
    expect(Object.keys(compose.volumes)).toContain('tradewire-data');
    // Nor does the build copy it in: the image's node_modules is its own npm ci.
    expect(read('config/Dockerfile.dockerignore').split('\n')).toEqual(expect.arrayContaining(['node_modules', 'data', '.git']));
  });

  it('gives BullMQ the Redis it needs: append-only file on, no eviction', () => {
    const command = compose.services.redis!.command as string[];
    expect(command.join(' ')).toContain('--appendonly yes');
    expect(command.join(' ')).toContain('--maxmemory-policy noeviction');
    expect(tradewire.environment?.REDIS_URL).toBe('redis://redis:6379');
  });

  it('keeps the top level as it is: the Dockerfile lives under config/', () => {
    expect(existsSync(new URL('Dockerfile', root))).toBe(false);
    expect(existsSync(new URL('config/Dockerfile', root))).toBe(true);
  });
});
