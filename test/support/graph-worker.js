// One process of the LangGraph resume test (runs the built library in dist/): a real
// StateGraph (agent → tools → agent) whose model is a scripted chat model (no network)
// and whose tool asks a human for approval with interrupt(). Phase `start` runs the graph
// until the interrupt, prints {"interrupted": …} and waits to be killed; phase `resume`
// resumes the thread from the vault with the approval and prints the final messages.
// argv: phase home database tenant thread
const { StateGraph, MessagesAnnotation, START, END, Command, interrupt } = require('@langchain/langgraph');
const { ToolNode } = require('@langchain/langgraph/prebuilt');
const { BaseChatModel } = require('@langchain/core/language_models/chat_models');
const { AIMessage } = require('@langchain/core/messages');
const { tool } = require('@langchain/core/tools');
const { z } = require('zod');
const { openVault } = require('../../dist');
const { createLogger } = require('../../dist/observability');
const { VaultCheckpointSaver } = require('../../dist/langgraph');

/** A chat model that answers from the conversation alone: a tool call first, then the answer to the tool's result. */
class ScriptedChatModel extends BaseChatModel {
  _llmType() {
    return 'scripted';
  }
  bindTools() {
    return this;
  }
  async _generate(messages) {
    const last = messages[messages.length - 1];
    const message =
      last._getType() === 'tool'
        ? new AIMessage(`Transfer done: ${last.content}`)
        : new AIMessage({ content: '', tool_calls: [{ id: 'call_transfer', name: 'transfer_money', args: { to: 'savings', usd: 250 } }] });
    return { generations: [{ text: typeof message.content === 'string' ? message.content : '', message }] };
  }
}

const transfer = tool(
  async ({ to, usd }) => {
    const answer = interrupt({ question: `Approve moving $${usd} to ${to}?` });
    return answer === 'approved' ? `moved $${usd} to ${to}` : `refused: ${answer}`;
  },
  { name: 'transfer_money', description: 'Move money between the customer\'s accounts', schema: z.object({ to: z.string(), usd: z.number() }) },
);

function graph(checkpointer) {
  const model = new ScriptedChatModel({});
  return new StateGraph(MessagesAnnotation)
    .addNode('agent', async (state) => ({ messages: [await model.invoke(state.messages)] }))
    .addNode('tools', new ToolNode([transfer]))
    .addEdge(START, 'agent')
    .addConditionalEdges('agent', (state) => (state.messages[state.messages.length - 1].tool_calls?.length ? 'tools' : END))
    .addEdge('tools', 'agent')
    .compile({ checkpointer });
}

async function main() {
  const [phase, home, database, tenant, thread] = process.argv.slice(2);
  const vault = await openVault({ home, database: database === '-' ? undefined : database, logger: createLogger({ level: 'silent' }), lockTimeoutMs: 120000 });
  const app = graph(new VaultCheckpointSaver({ vault, tenant }));
  const config = { configurable: { thread_id: thread } };
  if (phase === 'start') {
    const out = await app.invoke({ messages: [{ role: 'user', content: 'Move $250 to savings' }] }, config);
    process.stdout.write(JSON.stringify({ interrupted: out.__interrupt__?.map((i) => i.value) ?? null }) + '\n');
    setInterval(() => {}, 1000); // the test kills this process here, mid-thread
    return;
  }
  const out = await app.invoke(new Command({ resume: 'approved' }), config);
  process.stdout.write(JSON.stringify({ messages: out.messages.map((m) => ({ type: m._getType(), content: m.content, toolCalls: m.tool_calls?.map((c) => c.name) ?? [] })) }) + '\n');
  await vault.close();
}
main().catch((e) => {
  process.stderr.write(`graph worker error ${e && e.code}: ${e && e.stack}\n`);
  process.exit(9);
});
