import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SizeLimitedDir {
  readonly dir: string;
  /** Write a filler file until the filesystem refuses (ENOSPC): the disk is full. Returns bytes written. */
  fill(): number;
  /** Delete the filler: the space is free again. */
  free(): void;
  dispose(): Promise<void>;
}

/** `mount` as root, else through `sudo -n` (CI runners); a clear error when neither may mount. */
async function privileged(args: string[]): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  try {
    if (asRoot) await run(args[0] as string, args.slice(1));
    else await run('sudo', ['-n', ...args]);
  } catch (err) {
    throw new Error(
      `${args.join(' ')} failed (${asRoot ? 'as root' : 'via sudo -n'}): ${(err as Error).message.trim()}. ` +
        'The disk-full nemesis needs a size-limited filesystem: run as root or with passwordless sudo.',
    );
  }
}

/**
 * A real size-limited filesystem: a tmpfs mounted with `size=` (a loop-mounted ext4 image works
 * here too, but tmpfs needs no image file and no mkfs). Writes past the size fail with ENOSPC,
 * which is what a full disk looks like to a service.
 */
export async function sizeLimitedDir(sizeMb: number): Promise<SizeLimitedDir> {
  const dir = mkdtempSync(join(tmpdir(), 'faults-disk-'));
  await privileged(['mount', '-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0755`, 'tmpfs', dir]);
  const filler = join(dir, '.filler');
  return {
    dir,
    fill() {
      const fd = openSync(filler, 'a');
      const chunk = Buffer.alloc(256 * 1024);
      let written = 0;
      try {
        for (;;) written += writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        // The last blocks: small writes until not even one byte fits.
        for (;;) {
          try {
            const n = writeSync(fd, chunk, 0, 512);
            if (n === 0) break;
            written += n;
          } catch {
            break;
          }
        }
      } finally {
        closeSync(fd);
      }
      return written;
    },
    free() {
      rmSync(filler, { force: true });
    },
    async dispose() {
      await privileged(['umount', '-l', dir]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
