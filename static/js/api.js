// The REST API (`/api/v1`) as small async functions. Errors carry the status and the
// server's message ({"code","message"} or FastAPI's {"detail": [...]}).

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function request(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "The server cannot be reached. Check your connection.", null);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!response.ok) throw new ApiError(response.status, describe(response.status, data), data);
  return data;
}

function describe(status, data) {
  if (data && typeof data === "object") {
    if (typeof data.message === "string") return data.message;
    if (Array.isArray(data.detail) && data.detail[0]?.msg) return data.detail[0].msg;
  }
  if (status === 429) return "Too many requests: wait a moment and try again.";
  return `The server answered ${status}.`;
}

const enc = encodeURIComponent;

export const api = {
  listChats: (search) =>
    request("GET", `/api/v1/chats?limit=100${search ? `&search=${enc(search)}` : ""}`),
  createChat: (title) => request("POST", "/api/v1/chats", title ? { title } : {}),
  getChat: (id) => request("GET", `/api/v1/chats/${enc(id)}`),
  renameChat: (id, title) => request("PATCH", `/api/v1/chats/${enc(id)}`, { title }),
  deleteChat: (id) => request("DELETE", `/api/v1/chats/${enc(id)}`),
  restoreChat: (id) => request("POST", `/api/v1/chats/${enc(id)}/restore`),
  messages: (chatId) => request("GET", `/api/v1/chats/${enc(chatId)}/messages?limit=100`),
  feedback: (chatId, messageId, rating) =>
    request("POST", `/api/v1/chats/${enc(chatId)}/messages/${enc(messageId)}/feedback`, { rating }),
  claims: (messageId) => request("GET", `/api/v1/messages/${enc(messageId)}/claims`),
  verificationSummary: (messageId) =>
    request("GET", `/api/v1/messages/${enc(messageId)}/verification-summary`),
  preferences: () => request("GET", "/api/v1/preferences"),
  savePreferences: (prefs) => request("PUT", "/api/v1/preferences", prefs),
  submitJob: (job) => request("POST", "/api/v1/research/jobs", job),
  getJob: (sessionId) => request("GET", `/api/v1/research/jobs/${enc(sessionId)}`),
  cancelJob: (sessionId) => request("DELETE", `/api/v1/research/jobs/${enc(sessionId)}`),
  activeJob: (chatId) => request("GET", `/api/v1/research/jobs/chat/${enc(chatId)}/active`),
};

export const urls = {
  report: (messageId) => `/api/v1/messages/${enc(messageId)}/report`,
  provenance: (messageId, format) =>
    `/api/v1/messages/${enc(messageId)}/provenance?format=${enc(format)}`,
  chatExport: (chatId) => `/api/v1/chats/${enc(chatId)}/export?format=markdown`,
  jobStream: (sessionId, since) =>
    `/api/v1/research/jobs/${enc(sessionId)}/stream?sinceSequence=${since}`,
};

/** Downloads `url` as a file named `name`; a 404 rejects with ApiError(404). */
export async function download(url, name) {
  let response;
  try {
    response = await fetch(url);
  } catch {
    throw new ApiError(0, "The server cannot be reached.", null);
  }
  if (!response.ok) throw new ApiError(response.status, `The server answered ${response.status}.`, null);
  const blob = await response.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}
