// A TypeScript MCP SDK client that plays the demo conversation (list and
// call tools, one failing; read a resource; get a prompt) and prints every
// JSON-RPC message it writes or reads as "write: JSON" / "read: JSON", the
// format of the Go SDK's LoggingTransport.
//
//   node client.mjs streamable|sse|everything URL
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';

const [mode, endpoint] = process.argv.slice(2);

// Logging wraps a transport and logs what passes through it.
class Logging {
  constructor(inner) {
    this.inner = inner;
    inner.onmessage = (m, extra) => { console.log('read: ' + JSON.stringify(m)); this.onmessage?.(m, extra); };
    inner.onerror = (e) => this.onerror?.(e);
    inner.onclose = () => this.onclose?.();
  }
  start() { return this.inner.start(); }
  send(m, opts) { console.log('write: ' + JSON.stringify(m)); return this.inner.send(m, opts); }
  close() { return this.inner.close(); }
  get sessionId() { return this.inner.sessionId; }
  setProtocolVersion(v) { this.inner.setProtocolVersion?.(v); }
}

const url = new URL(endpoint);
const inner = mode === 'sse' ? new SSEClientTransport(url) : new StreamableHTTPClientTransport(url);
const client = new Client({ name: 'ts-agent', version: '1.32.2' });
await client.connect(new Logging(inner));
if (mode === 'everything') {
  // @modelcontextprotocol/server-everything: its own tools, progress
  // notifications from a long-running tool, an image, resources, prompts.
  await client.listTools();
  await client.callTool({ name: 'echo', arguments: { message: 'hello' } });
  await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
  await client.callTool({ name: 'get-tiny-image', arguments: {} });
  await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } },
    undefined, { onprogress: () => {} });
  await client.listResources();
  await client.readResource({ uri: 'demo://resource/static/document/architecture.md' });
  await client.listPrompts();
  await client.getPrompt({ name: 'simple-prompt' });
} else {
  await client.listTools();
  await client.callTool({ name: 'search_docs', arguments: { query: 'quarterly revenue', limit: 3 } });
  await client.callTool({ name: 'read_file', arguments: { path: '/etc/shadow' } });
  await client.readResource({ uri: 'file:///workspace/README.md' });
  await client.getPrompt({ name: 'summarize' });
}
if (mode !== 'sse') await inner.terminateSession();
await client.close();
