import { describe, expect, it } from 'vitest';
import { commandHelp, parseCommand, suggest, UsageError, type CommandSpec } from '../../src/cli/args.js';
import { statusExitCode } from '../../src/cli/exit-codes.js';
import { prettyDestination } from '../../src/cli/logger.js';
import { formatLogLine } from '../../src/observe/logger.js';
import { renderProgress } from '../../src/cli/progress-bar.js';

describe('renderProgress', () => {
  it('draws state, a 24-cell bar, the percent and the message on one line', () => {
    expect(renderProgress({ state: 'active', percent: 25, message: 'step 1 of 4' })).toBe('active    [######..................]  25%  step 1 of 4');
    expect(renderProgress({ state: 'waiting', percent: 0 })).toBe('waiting   [........................]   0%');
    expect(renderProgress({ state: 'completed', percent: 100 })).toBe('completed [########################] 100%');
  });

  it('keeps the line shorter than the terminal, so that \\r can rewrite it', () => {
    const line = renderProgress({ state: 'active', percent: 50, message: `a long\nmessage ${'x'.repeat(200)}` }, 60);
    expect(line).toHaveLength(59);
    expect(line.endsWith('…')).toBe(true);
    expect(line).not.toContain('\n');
    // A pty that reports no width (0 columns) gets 80.
    expect(renderProgress({ state: 'active', percent: 50, message: 'x'.repeat(200) }, 0)).toHaveLength(79);
  });
});

describe('formatLogLine', () => {
  const time = new Date(2026, 0, 2, 3, 4, 5).getTime();

  it('writes HH:MM:SS LEVEL message key=value, without pid and hostname', () => {
    const record = { level: 30, time, pid: 1, hostname: 'h', msg: 'worker started', queues: { high: 1 }, prefix: 'deferred', note: 'two words' };
    expect(formatLogLine(record)).toBe('03:04:05 INFO  worker started queues={"high":1} prefix=deferred note="two words"');
  });

  it('puts an error\'s stack under the line, indented', () => {
    const record = { level: 50, time, msg: 'job failed', jobId: '7', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at run (file.js:1:1)' } };
    expect(formatLogLine(record)).toBe('03:04:05 ERROR job failed jobId=7\n    Error: boom\n    at run (file.js:1:1)');
  });

  it('colours the level only when asked', () => {
    expect(formatLogLine({ level: 40, time, msg: 'm' }, true)).toBe('03:04:05 \x1b[33mWARN \x1b[0m m');
  });

  it('as a pino destination, turns each JSON line into a readable one and passes other text through', () => {
    let written = '';
    const dest = prettyDestination({ write: (s: string) => (written += s) } as unknown as NodeJS.WritableStream, false);
    dest.write(`${JSON.stringify({ level: 20, time, msg: 'a' })}\nnot json\n`);
    expect(written).toBe('03:04:05 DEBUG a\nnot json\n');
  });
});

describe('command line parsing', () => {
  const spec: CommandSpec = {
    name: 'demo', summary: 'A demo.', positionals: [{ name: 'id', description: 'An id.' }],
    options: { port: { type: 'string', short: 'p', value: '<port>', description: 'A port.' }, json: { type: 'boolean', description: 'JSON.' } },
  };
  const usage = (args: string[]) => {
    try {
      parseCommand(spec, args);
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      return (err as UsageError).message;
    }
    throw new Error('no usage error');
  };

  it('parses strictly, with short options', () => {
    expect(parseCommand(spec, ['x', '-p', '80', '--json'])).toEqual({ values: { port: '80', json: true }, positionals: ['x'] });
  });

  it('names the first wrong token and suggests the option meant', () => {
    expect(usage(['x', '--prot', '1'])).toBe("unknown option '--prot' for 'demo' (did you mean --port?)");
    expect(usage(['x', '--po', '1'])).toBe("unknown option '--po' for 'demo' (did you mean --port?)");
    expect(usage(['x', '--zzz'])).toBe("unknown option '--zzz' for 'demo'");
    expect(usage(['x', '--port'])).toBe("option '--port' needs a value: --port <port>");
    expect(usage(['x', '--port', '--json'])).toBe("option '--port' needs a value: --port <port>");
    expect(usage(['x', '--json=1'])).toBe("option '--json' takes no value");
    expect(usage([])).toBe('missing <id>: deferred demo <id> [options]');
    expect(usage(['x', 'y'])).toBe("unexpected argument 'y' for 'demo'");
  });

  it('suggests only close words', () => {
    expect(suggest('stauts', ['worker', 'dashboard', 'status'])).toBe('status');
    expect(suggest('x', ['worker', 'status'])).toBeUndefined();
  });

  it('prints the usage line, the arguments and every option in the help', () => {
    const help = commandHelp(spec);
    expect(help.split('\n')[0]).toBe('Usage: deferred demo <id> [options]');
    expect(help).toContain('-p, --port <port>');
    expect(help).toContain('    --json');
    expect(help).toContain('-h, --help');
  });
});

describe('the CLI helpers', () => {
  it('status exit codes: 0 completed, 1 failed or cancelled, 3 unknown, 4 unfinished', () => {
    expect([statusExitCode('completed'), statusExitCode('failed'), statusExitCode('cancelled'), statusExitCode('unknown')]).toEqual([0, 1, 1, 3]);
    for (const state of ['pending', 'waiting', 'delayed', 'active'] as const) expect(statusExitCode(state)).toBe(4);
  });
});
