// A TypeScript MCP SDK server with the demo tools (search_docs, read_file,
// a resource and a prompt), over Streamable HTTP (POST/GET/DELETE /mcp) or
// the legacy HTTP+SSE transport (GET /sse, POST /messages).
//
//   node server.mjs streamable|sse
//
// Listens on 127.0.0.1:$PORT.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { z } from 'zod';

const mode = process.argv[2];

function newServer() {
  const server = new McpServer({ name: 'ts-files', version: '3.1.0' });
  server.registerTool('search_docs', {
    description: 'Search the internal documentation.',
    inputSchema: { query: z.string(), limit: z.number().optional() },
    annotations: { readOnlyHint: true },
  }, async ({ query }) => ({ content: [{ type: 'text', text: `doc-0: ${query}` }] }));
  server.registerTool('read_file', {
    description: 'Read a file from the project workspace.',
    inputSchema: { path: z.string() },
  }, async ({ path }) => path.startsWith('/workspace/')
    ? { content: [{ type: 'text', text: `line of ${path}` }] }
    : { content: [{ type: 'text', text: `path outside workspace: ${path}` }], isError: true });
  server.registerResource('readme', 'file:///workspace/README.md', { mimeType: 'text/markdown' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/markdown', text: '# Workspace\n' }] }));
  server.registerPrompt('summarize', { description: 'Summarize a document.' },
    async () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'Summarize it.' } }] }));
  return server;
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const s = Buffer.concat(chunks).toString();
  return s ? JSON.parse(s) : undefined;
}

const streamable = {}; // session id -> transport
const legacy = {};     // session id -> transport

const httpServer = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  try {
    if (mode === 'streamable' && url.pathname === '/mcp') {
      const sid = req.headers['mcp-session-id'];
      let transport = sid && streamable[sid];
      const body = req.method === 'POST' ? await readBody(req) : undefined;
      if (!transport) {
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => { streamable[id] = transport; },
        });
        await newServer().connect(transport);
      }
      await transport.handleRequest(req, res, body);
      return;
    }
    if (mode === 'sse' && url.pathname === '/sse' && req.method === 'GET') {
      const transport = new SSEServerTransport('/messages', res);
      legacy[transport.sessionId] = transport;
      res.on('close', () => delete legacy[transport.sessionId]);
      await newServer().connect(transport);
      return;
    }
    if (mode === 'sse' && url.pathname === '/messages' && req.method === 'POST') {
      const transport = legacy[url.searchParams.get('sessionId')];
      if (!transport) { res.writeHead(404).end('unknown session'); return; }
      await transport.handlePostMessage(req, res);
      return;
    }
    res.writeHead(404).end();
  } catch (err) {
    console.error(err);
    if (!res.headersSent) res.writeHead(500).end();
  }
});

httpServer.listen(Number(process.env.PORT), '127.0.0.1');
