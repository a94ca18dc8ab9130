export { importMessages, toOpenAiMessages, MESSAGE_FORMATS } from './message-formats';
export type { MessageFormat, OpenAiMessage } from './message-formats';
