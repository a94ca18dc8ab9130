/**
 * What a model call costs: US dollars per million input (prompt) and output (completion)
 * tokens. The defaults are OpenAI's published list prices when this table was written;
 * prices change, so pass your own (merged over these) to `RecordedChat`.
 */
export interface ModelPrice {
  inputPerMTok: number;
  outputPerMTok: number;
}

export type PriceTable = Readonly<Record<string, ModelPrice>>;

export const DEFAULT_PRICES: PriceTable = {
  'gpt-4o': { inputPerMTok: 2.5, outputPerMTok: 10 },
  'gpt-4o-mini': { inputPerMTok: 0.15, outputPerMTok: 0.6 },
  'gpt-4.1': { inputPerMTok: 2, outputPerMTok: 8 },
  'gpt-4.1-mini': { inputPerMTok: 0.4, outputPerMTok: 1.6 },
  'gpt-4.1-nano': { inputPerMTok: 0.1, outputPerMTok: 0.4 },
  'o3': { inputPerMTok: 2, outputPerMTok: 8 },
  'o4-mini': { inputPerMTok: 1.1, outputPerMTok: 4.4 },
};

/**
 * The cost of a call, or undefined when the model is not in the table. A dated snapshot
 * (`gpt-4o-2024-08-06`) is priced as its longest listed prefix (`gpt-4o`).
 */
export function costOf(model: string, usage: { promptTokens: number; completionTokens: number }, table: PriceTable = DEFAULT_PRICES): number | undefined {
  let price = table[model];
  if (!price) {
    const prefix = Object.keys(table)
      .filter((k) => model.startsWith(`${k}-`))
      .sort((a, b) => b.length - a.length)[0];
    price = prefix ? table[prefix] : undefined;
  }
  if (!price) return undefined;
  const usd = (usage.promptTokens * price.inputPerMTok + usage.completionTokens * price.outputPerMTok) / 1e6;
  return Math.round(usd * 1e9) / 1e9;
}
