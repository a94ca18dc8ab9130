import type { AgentState } from '../../src/replay';

/** The oracle, written apart from the module: the last `n` of each list of the full state. */
export function lastOf(full: AgentState, n: number) {
  const cut = <T>(xs: T[]) => xs.slice(Math.max(0, xs.length - n));
  return {
    ...full,
    messages: cut(full.messages),
    toolCalls: cut(full.toolCalls),
    agentItems: cut(full.agentItems),
    modelErrors: cut(full.modelErrors),
    window: {
      size: n,
      omitted: { messages: full.messages.length - cut(full.messages).length, toolCalls: full.toolCalls.length - cut(full.toolCalls).length, agentItems: full.agentItems.length - cut(full.agentItems).length, modelErrors: full.modelErrors.length - cut(full.modelErrors).length },
    },
  };
}

