// Prints each inbound call as pushes about it are stored, with the
// `graphql-ws` client (npm install graphql-ws ws). Run with node 18+:
//   UDESK_CALLS_TOKEN=... node examples/live-updates.mjs ws://127.0.0.1:8080/graphql
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const token = process.env.UDESK_CALLS_TOKEN;
const client = createClient({
  url: process.argv[2] ?? 'ws://127.0.0.1:8080/graphql',
  webSocketImpl: WebSocket,
  connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
});
const updates = client.iterate({
  query: `subscription { callUpdated(filter: { workflows: ["in"] }) {
    conversationId status startedAt callResult agentNickName totalTime } }`,
});
for await (const { data, errors } of updates) console.log(errors ?? data.callUpdated);
