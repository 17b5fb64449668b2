import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { GitError } from './errors.ts';
import { baseEnv } from './git-runner.ts';
import { readLooseObject } from './loose-objects.ts';

/** An object id: SHA-1 (40 hex digits) or SHA-256 (64). */
const OID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export type ObjectType = 'blob' | 'tree' | 'commit' | 'tag';

export interface GitObject {
  type: ObjectType;
  data: Buffer;
}

export interface ObjectReaderOptions {
  /** The repository (a bare mirror's directory, or a work tree's `.git`). */
  gitDir: string;
  /** A request unanswered this long kills the process (every pending request fails; the next starts a new one). */
  timeoutMs?: number;
  /** Called once for every git process started (a mirror counts its processes with it). */
  onProcess?: () => void;
  /**
   * The largest object whose content is read (default 64 MiB). A config repo is untrusted: a
   * blob of gigabytes (a few megabytes packed) would otherwise be held in memory whole. A bigger
   * one fails with `git.object-too-large` as soon as git names its size, before its bytes come.
   */
  maxObjectBytes?: number;
}

const DEFAULT_MAX_OBJECT_BYTES = 64 * 1024 * 1024;

interface Pending {
  oid: string;
  contents: boolean;
  resolve: (o: GitObject | { type: ObjectType; size: number } | null) => void;
  reject: (e: Error) => void;
}

/**
 * Objects of one repository read through one long-lived `git cat-file --batch-command` (loose
 * ones straight from their files), so reading a commit, its trees and a few blobs costs a line
 * written to a pipe each, not a git process each (15-50 ms to start on a loaded machine, most of
 * a commit's path to its plans).
 * Requests are answered in the order they were written, so many may be in flight at once.
 *
 * Only full object ids are asked for (never `rev:path` or ref names: what they name could change
 * between two reads). A process that dies or stops answering fails what is pending with a typed
 * error and is started again by the next request; `close` ends it.
 */
export class ObjectReader {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly pending: Pending[] = [];
  /** Output not parsed yet, and chunks come since, not joined to it until `missing` bytes are there. */
  private buffered: Buffer = Buffer.alloc(0);
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  private missing = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly timeoutMs: number;

  private readonly maxObjectBytes: number;

  constructor(private readonly options: ObjectReaderOptions) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxObjectBytes = options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
  }

  /** The running process's id, if one runs (diagnostics, and tests that kill it). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * The object `oid`, or null when the repository does not have it. A loose object (what a small
   * fetch just brought) is read from its file, checked against its id: not even a round trip to
   * the process, whose every answer waits for it to be scheduled on a loaded machine.
   */
  async readObject(oid: string): Promise<GitObject | null> {
    if (OID.test(oid) && !this.closed) {
      const loose = readLooseObject(this.options.gitDir, oid, this.maxObjectBytes);
      if (loose) return loose;
    }
    return (await this.request(oid, true)) as GitObject | null;
  }

  /** Whether the repository has object `oid` (any type); its content is not read. */
  async hasObject(oid: string): Promise<boolean> {
    return (await this.request(oid, false)) !== null;
  }

  /**
   * Ends the process (pending requests fail) and starts a new one at the next request: after the
   * repository was replaced (a re-clone), the old process would still read the old one's files.
   */
  async reset(): Promise<void> {
    await this.stop(new GitError('git.command-failed', 'object reader reset'));
  }

  /** Ends the process for good (pending requests fail, later ones are refused). */
  async close(): Promise<void> {
    this.closed = true;
    await this.stop(new GitError('git.command-failed', 'object reader closed'));
  }

  private request(
    oid: string,
    contents: boolean,
  ): Promise<GitObject | { type: ObjectType; size: number } | null> {
    if (!OID.test(oid))
      return Promise.reject(new GitError('git.invalid-argument', `not an object id: ${oid}`));
    if (this.closed) return Promise.reject(new GitError('git.command-failed', 'object reader closed'));
    const child = this.child ?? this.start();
    return new Promise((resolve, reject) => {
      this.pending.push({ oid, contents, resolve, reject });
      if (this.pending.length === 1) {
        this.hold(true);
        this.arm();
      }
      child.stdin.write(`${contents ? 'contents' : 'info'} ${oid}\n`);
    });
  }

  private start(): ChildProcessWithoutNullStreams {
    this.options.onProcess?.();
    const child = spawn('git', ['cat-file', '--batch-command'], {
      cwd: this.options.gitDir,
      env: { ...baseEnv(), GIT_DIR: this.options.gitDir },
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    this.child = child;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-2000);
    });
    child.stdout.on('data', (d: Buffer) => this.onData(child, d));
    // A write after the process died fails here; its exit fails what is pending.
    child.stdin.on('error', () => {});
    const gone = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.fail(
        new GitError('git.command-failed', `git cat-file ${why}${stderr ? `: ${stderr.trim()}` : ''}`),
      );
    };
    child.on('error', (e) => gone(`could not run: ${e.message}`));
    child.on('close', (code, signal) => gone(`exited (${signal ?? code})`));
    this.hold(false);
    return child;
  }

  private onData(child: ChildProcessWithoutNullStreams, chunk: Buffer): void {
    if (this.child !== child) return;
    // A big blob comes in many chunks: they are joined once it is all there, not at each one.
    this.chunks.push(chunk);
    this.chunkBytes += chunk.byteLength;
    if (this.chunkBytes < this.missing) return;
    this.buffered = Buffer.concat([this.buffered, ...this.chunks]);
    this.chunks = [];
    this.chunkBytes = 0;
    this.missing = 0;
    const why = this.parse();
    if (why !== undefined) this.broken(child, why);
  }

  /** Answers every request whose answer is complete; what is wrong when the output breaks the protocol. */
  private parse(): string | undefined {
    for (;;) {
      const head = this.pending[0];
      if (!head) return this.buffered.byteLength > 0 ? 'output nobody asked for' : undefined;
      const eol = this.buffered.indexOf(0x0a);
      if (eol < 0) return undefined;
      const line = this.buffered.subarray(0, eol).toString('latin1');
      const [oid, type, sizeText] = line.split(' ');
      if (oid === head.oid && type === 'missing' && sizeText === undefined) {
        this.buffered = this.buffered.subarray(eol + 1);
        this.answer(null);
        continue;
      }
      const size = Number(sizeText);
      if (oid !== head.oid || !isType(type) || !Number.isSafeInteger(size) || size < 0)
        return `unexpected answer ${JSON.stringify(line.slice(0, 200))} for ${head.oid}`;
      if (!head.contents) {
        this.buffered = this.buffered.subarray(eol + 1);
        this.answer({ type, size });
        continue;
      }
      if (size > this.maxObjectBytes) {
        // Its bytes are not read: the process is stopped (what else is pending fails, the next
        // request starts a new one), and this request is told why.
        this.pending.shift();
        head.reject(
          new GitError(
            'git.object-too-large',
            `${type} ${oid} is ${size} bytes; objects over ${this.maxObjectBytes} bytes are not read`,
            { details: { oid, type, size, limit: this.maxObjectBytes } },
          ),
        );
        return `stopped before the ${size} bytes of ${oid}`;
      }
      // `<oid> <type> <size>\n<content>\n`
      const end = eol + 1 + size;
      if (this.buffered.byteLength < end + 1) {
        this.missing = end + 1 - this.buffered.byteLength;
        return undefined;
      }
      if (this.buffered[end] !== 0x0a) return 'content not followed by a newline';
      const data = Buffer.from(this.buffered.subarray(eol + 1, end));
      this.buffered = this.buffered.subarray(end + 1);
      this.answer({ type, data });
    }
  }

  private answer(value: GitObject | { type: ObjectType; size: number } | null): void {
    const head = this.pending.shift();
    if (this.pending.length > 0) this.arm();
    else {
      clearTimeout(this.timer);
      this.hold(false);
    }
    head?.resolve(value);
  }

  /** Output that does not fit the protocol: nothing after it can be trusted. */
  private broken(child: ChildProcessWithoutNullStreams, why: string): void {
    if (this.child === child) this.child = undefined;
    child.kill('SIGKILL');
    this.fail(new GitError('git.command-failed', `git cat-file: ${why}`));
  }

  /** An idle reader does not keep the process alive; one with requests pending does. */
  private hold(busy: boolean): void {
    const child = this.child;
    if (!child) return;
    for (const h of [child, child.stdin, child.stdout, child.stderr] as Array<{
      ref?: () => void;
      unref?: () => void;
    }>)
      busy ? h.ref?.() : h.unref?.();
  }

  /** Each answer must come within the timeout of the one before (or of the request). */
  private arm(): void {
    clearTimeout(this.timer);
    const child = this.child;
    this.timer = setTimeout(() => {
      if (child && this.child === child) {
        this.child = undefined;
        child.kill('SIGKILL');
      }
      this.fail(new GitError('git.timeout', `git cat-file answered nothing for ${this.timeoutMs} ms`));
    }, this.timeoutMs);
    this.timer.unref();
  }

  private fail(err: Error): void {
    clearTimeout(this.timer);
    this.buffered = Buffer.alloc(0);
    this.chunks = [];
    this.chunkBytes = 0;
    this.missing = 0;
    for (const p of this.pending.splice(0)) p.reject(err);
  }

  private async stop(err: Error): Promise<void> {
    const child = this.child;
    this.child = undefined;
    this.fail(err);
    if (!child) return;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('close', () => resolve());
    });
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }
}

function isType(t: string | undefined): t is ObjectType {
  return t === 'blob' || t === 'tree' || t === 'commit' || t === 'tag';
}
