import { randomUUID } from 'node:crypto';
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres';
import { emptyCheckpoint, uuid6, type BaseCheckpointSaver, type Checkpoint } from '@langchain/langgraph-checkpoint';
import type { Vault } from '../../src/vault';
import { VaultCheckpointSaver } from '../../src/integrations/langgraph';

/**
 * LangGraph's latest-checkpoint read (getTuple without a checkpoint id, what every graph
 * step starts with) on threads of `lengths` checkpoints, for VaultCheckpointSaver and
 * LangGraph's own PostgresSaver on the same server. Every step writes the same state to
 * both: a `messages` channel (the last 10 messages, changed every step), a `profile`
 * channel written once at step 0 and carried over (the vault reads it through a ref), and
 * one pending write. `raw`, one read of raw pg's latest row, runs in the same rounds, so
 * each ratio compares reads made at the same moments.
 */
export async function latestCheckpointReads(
  vault: Vault,
  url: string,
  lengths: readonly number[],
  reads: number,
  rate: (n: number, fn: () => Promise<void>) => Promise<number>,
  raw: () => Promise<unknown>,
): Promise<{ checkpoints: number; vault: number; postgresSaver: number; raw: number }[]> {
  await vault.createTenant('bench-lg');
  const savers: Record<'vault' | 'postgresSaver', BaseCheckpointSaver> = {
    vault: new VaultCheckpointSaver({ vault, tenant: 'bench-lg' }),
    postgresSaver: PostgresSaver.fromConnString(url, { schema: 'langgraph_bench' }),
  };
  await (savers.postgresSaver as PostgresSaver).setup();
  const out: { checkpoints: number; vault: number; postgresSaver: number; raw: number }[] = [];
  try {
    for (const length of lengths) {
      const thread = `bench-${length}-${randomUUID()}`;
      for (const saver of Object.values(savers)) await fillThread(saver, thread, length);
      // Three rounds, the two savers and raw pg alternating within each, medians kept: the machine is shared and noisy.
      const samples: Record<string, number[]> = { vault: [], postgresSaver: [], raw: [] };
      // A round of each, untimed, warms them up (see `alternating` in run.ts: one read was not enough).
      for (const saver of Object.values(savers)) for (let i = 0; i < reads; i++) await saver.getTuple({ configurable: { thread_id: thread } });
      for (let i = 0; i < reads; i++) await raw();
      for (let round = 0; round < 3; round++) {
        const order = round % 2 === 0 ? Object.entries(savers) : Object.entries(savers).reverse();
        samples.raw!.push(
          await rate(reads, async () => {
            for (let i = 0; i < reads; i++) await raw();
          }),
        );
        for (const [name, saver] of order) {
          samples[name]!.push(
            await rate(reads, async () => {
              for (let i = 0; i < reads; i++) {
                const t = await saver.getTuple({ configurable: { thread_id: thread } });
                if (!t || (t.checkpoint.channel_values as { profile?: unknown }).profile === undefined) throw new Error(`${name}: the latest checkpoint lost a carried channel`);
              }
            }),
          );
        }
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      out.push({ checkpoints: length, vault: median(samples.vault!), postgresSaver: median(samples.postgresSaver!), raw: median(samples.raw!) });
    }
  } finally {
    await (savers.postgresSaver as PostgresSaver).end();
  }
  return out;
}

async function fillThread(saver: BaseCheckpointSaver, thread: string, length: number): Promise<void> {
  let config = { configurable: { thread_id: thread, checkpoint_ns: '' } } as { configurable: Record<string, unknown> };
  const messages: string[] = [];
  for (let step = 0; step < length; step++) {
    messages.push(`message ${step}: ${'x'.repeat(80)}`);
    const checkpoint: Checkpoint = {
      ...emptyCheckpoint(),
      id: uuid6(-1),
      channel_values: { messages: messages.slice(-10), profile: { customer: 'c-42', segment: 'retail', notes: 'y'.repeat(400) } },
      channel_versions: { messages: step + 1, profile: 1 },
    };
    const newVersions: Record<string, number> = step === 0 ? { messages: 1, profile: 1 } : { messages: step + 1 };
    config = (await saver.put(config, checkpoint, { source: 'loop', step, parents: {} }, newVersions)) as typeof config;
    await saver.putWrites(config, [['messages', `reply ${step}`]], `task-${step}`);
  }
}
