// Non-MCP JSON-RPC 2.0 servers over HTTP, for mcpwatch's identification
// tests (../jsonrpc.go): real implementations that a sensor must not take
// for MCP, whatever method names their clients send them.
//
//   node peers.mjs lsp      a language server built on vscode-languageserver,
//                           one JSON-RPC message per POST
//   node peers.mjs eth      ganache, an Ethereum node simulator, as it
//                           serves its JSON-RPC API
//   node peers.mjs generic  a jayson JSON-RPC 2.0 server whose job API has a
//                           method that happens to be named tools/call
//
// Each listens on 127.0.0.1:$PORT and prints "listening" when it does.
import http from "node:http";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const port = Number(process.env.PORT);
const mode = process.argv[2];

function listening() {
  console.log("listening");
}

function lsp() {
  const {
    createConnection,
    AbstractMessageReader,
    AbstractMessageWriter,
    TextDocumentSyncKind,
  } = require("vscode-languageserver/node");

  // vscode-languageserver speaks over a reader and a writer; this pair
  // carries one message per HTTP POST and answers a request with the
  // server's response to it (by id). Messages the server starts itself
  // (window/logMessage, …) have no way back over plain HTTP and are dropped.
  class PostReader extends AbstractMessageReader {
    listen(callback) {
      this.callback = callback;
      return { dispose() {} };
    }
  }
  const waiting = new Map(); // JSON of id → response
  class ResponseWriter extends AbstractMessageWriter {
    async write(msg) {
      if (msg.method !== undefined) return;
      const key = JSON.stringify(msg.id);
      const res = waiting.get(key);
      if (!res) return;
      waiting.delete(key);
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(msg));
    }
    end() {}
  }
  const reader = new PostReader();
  const connection = createConnection(reader, new ResponseWriter());
  connection.onInitialize(() => ({
    capabilities: { textDocumentSync: TextDocumentSyncKind.Full, hoverProvider: true },
    serverInfo: { name: "mcpwatch-lsp-peer", version: "1.0.0" },
  }));
  const open = new Map();
  connection.onDidOpenTextDocument((p) => open.set(p.textDocument.uri, p.textDocument.text));
  connection.onHover((p) => {
    const text = open.get(p.textDocument.uri) ?? "";
    const line = text.split("\n")[p.position.line] ?? "";
    return { contents: { kind: "markdown", value: "```go\n" + line.trim() + "\n```" } };
  });
  connection.onShutdown(() => {});
  connection.listen();

  http
    .createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        let msg;
        try {
          msg = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          res.writeHead(400, { "Content-Type": "application/json" });
          res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }));
          return;
        }
        if (msg.id !== undefined) {
          waiting.set(JSON.stringify(msg.id), res);
        } else {
          res.writeHead(204);
          res.end();
        }
        reader.callback(msg);
      });
    })
    .listen(port, "127.0.0.1", listening);
}

function eth() {
  const ganache = require("ganache");
  const server = ganache.server({
    logging: { quiet: true },
    wallet: { deterministic: true },
    chain: { chainId: 1337 },
  });
  server.listen(port, "127.0.0.1", (err) => {
    if (err) {
      console.error(err);
      process.exit(1);
    }
    listening();
  });
}

function generic() {
  const jayson = require("jayson");
  const server = new jayson.Server({
    ping(params, callback) {
      callback(null, "pong");
    },
    "tools/call"(params, callback) {
      const tool = Array.isArray(params) ? params[0] : params.name;
      callback(null, { queued: true, tool, job: 42 });
    },
  });
  server.http().listen(port, "127.0.0.1", listening);
}

const peers = { lsp, eth, generic };
if (!peers[mode] || !port) {
  console.error("usage: PORT=N node peers.mjs lsp|eth|generic");
  process.exit(2);
}
peers[mode]();
