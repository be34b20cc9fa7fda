// dra's browser UI: chats in the sidebar, a question box, live progress of a research job,
// and the report with its citations, sources and verification. No framework: the DOM in
// index.html, filled by the functions below.

import { api, download, urls } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import { applyEvent, emptyProgress, renderProgress } from "./progress.js";
import { JobStream } from "./stream.js";

const $ = (id) => document.getElementById(id);

const state = {
  chats: [],
  search: "",
  chatId: null,
  messages: [],
  prefs: null,
  job: null, // { sessionId, chatId, stream, progress }
  provenance: new Map(), // messageId -> { claims, summary } (promise)
  chatExport: null, // null: unknown, true/false once probed
};

// ---------------------------------------------------------------- boot

document.addEventListener("DOMContentLoaded", () => {
  wireSidebar();
  wireComposer();
  wirePanels();
  wirePreferences();
  wireReport();
  boot().catch((e) => toast(e.message));
});

async function boot() {
  await loadPreferences();
  await loadChats();
  const fromUrl = chatIdFromLocation();
  if (fromUrl) await openChat(fromUrl, { push: false });
  document.body.dataset.ready = "true";
}

function chatIdFromLocation() {
  const m = location.pathname.match(/^\/c\/([0-9a-f-]{36})$/i);
  return m ? m[1] : null;
}

window.addEventListener("popstate", () => {
  const id = chatIdFromLocation();
  if (id) openChat(id, { push: false }).catch((e) => toast(e.message));
  else showChat(null);
});

// ---------------------------------------------------------------- theme and preferences

function applyTheme(theme) {
  const dark =
    theme === "dark" ||
    (theme === "system" && window.matchMedia?.("(prefers-color-scheme: dark)").matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
  const toggle = $("theme-toggle");
  toggle.setAttribute("aria-pressed", String(dark));
  toggle.setAttribute("aria-label", dark ? "Switch to light theme" : "Switch to dark theme");
}

async function loadPreferences() {
  try {
    state.prefs = await api.preferences();
  } catch (e) {
    state.prefs = { theme: "light" };
    toast(`Preferences could not be loaded: ${e.message}`);
  }
  applyTheme(state.prefs.theme ?? "light");
  if (state.prefs.defaultQueryMode) $("mode").value = state.prefs.defaultQueryMode;
  if (state.prefs.defaultResearchDepth) $("depth").value = state.prefs.defaultResearchDepth;
}

async function savePreferences(update) {
  const saved = await api.savePreferences(update);
  state.prefs = saved;
  applyTheme(saved.theme ?? "light");
  return saved;
}

function wirePreferences() {
  const dialog = $("prefs");
  $("theme-toggle").addEventListener("click", async () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    applyTheme(next);
    try {
      await savePreferences({ theme: next });
    } catch (e) {
      toast(`The theme could not be saved: ${e.message}`);
    }
  });
  $("prefs-open").addEventListener("click", () => {
    const p = state.prefs ?? {};
    $("pref-theme").value = p.theme ?? "light";
    $("pref-mode").value = p.defaultQueryMode ?? "deep_research";
    $("pref-depth").value = p.defaultResearchDepth ?? "auto";
    $("pref-instructions").value = p.systemInstructions ?? "";
    $("prefs-error").hidden = true;
    dialog.showModal();
  });
  $("prefs-cancel").addEventListener("click", () => dialog.close());
  $("prefs-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const saved = await savePreferences({
        theme: $("pref-theme").value,
        defaultQueryMode: $("pref-mode").value,
        defaultResearchDepth: $("pref-depth").value,
        systemInstructions: $("pref-instructions").value,
      });
      $("mode").value = saved.defaultQueryMode ?? $("mode").value;
      $("depth").value = saved.defaultResearchDepth ?? $("depth").value;
      dialog.close();
      toast("Preferences saved");
    } catch (e) {
      $("prefs-error").textContent = e.message;
      $("prefs-error").hidden = false;
    }
  });
}

// ---------------------------------------------------------------- sidebar: chats

function wireSidebar() {
  $("new-chat").addEventListener("click", async () => {
    try {
      const chat = await api.createChat();
      await loadChats();
      await openChat(chat.id);
      $("query").focus();
    } catch (e) {
      toast(e.message);
    }
  });
  let debounce;
  $("chat-search").addEventListener("input", (event) => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      state.search = event.target.value.trim();
      loadChats().catch((e) => toast(e.message));
    }, 250);
  });
  $("menu-toggle").addEventListener("click", () => {
    const open = !$("sidebar").classList.contains("open");
    setSidebar(open);
    if (open) $("chat-search").focus();
  });
}

function setSidebar(open) {
  $("sidebar").classList.toggle("open", open);
  $("menu-toggle").setAttribute("aria-expanded", String(open));
  $("menu-toggle").setAttribute("aria-label", open ? "Hide chats" : "Show chats");
}

let chatsRequest = 0;

async function loadChats() {
  // Answers can arrive out of order while the user types a search: keep the latest.
  const mine = ++chatsRequest;
  const page = await api.listChats(state.search);
  if (mine !== chatsRequest) return;
  state.chats = page.items ?? [];
  renderChats();
}

function renderChats() {
  const list = $("chat-list");
  list.replaceChildren(...state.chats.map(chatItem));
  $("chat-list-empty").hidden = state.chats.length > 0;
  $("chat-list-empty").textContent = state.search ? "No chats match." : "No chats yet.";
}

function chatTitle(chat) {
  return chat.title?.trim() || "Untitled chat";
}

function chatItem(chat) {
  const li = document.createElement("li");
  li.className = "chat-item";
  li.dataset.chatId = chat.id;
  if (chat.id === state.chatId) li.setAttribute("aria-current", "true");

  const open = document.createElement("button");
  open.type = "button";
  open.className = "chat-open";
  open.textContent = chatTitle(chat);
  open.title = chatTitle(chat);
  open.addEventListener("click", () => {
    openChat(chat.id).catch((e) => toast(e.message));
    setSidebar(false);
  });

  const rename = iconButton("✎", `Rename ${chatTitle(chat)}`, "chat-rename");
  rename.addEventListener("click", () => startRename(li, chat));
  const remove = iconButton("", `Delete ${chatTitle(chat)}`, "chat-delete");
  remove.append(trashIcon());
  remove.addEventListener("click", () => deleteChat(chat));

  li.append(open, rename, remove);
  return li;
}

/** A small trash-can icon (SVG, so it needs no emoji font). */
function trashIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "14");
  svg.setAttribute("height", "14");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M2 4h12M6 4V2h4v2M4 4l1 10h6l1-10M7 7v5M9 7v5");
  svg.append(path);
  return svg;
}

function iconButton(text, label, className) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `icon-button ${className}`;
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.title = label;
  return b;
}

function startRename(li, chat) {
  const input = document.createElement("input");
  input.className = "input chat-rename-input";
  input.value = chat.title ?? "";
  input.maxLength = 200;
  input.setAttribute("aria-label", "New chat title");
  li.replaceChildren(input);
  input.focus();
  input.select();
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const title = input.value.trim();
    if (save && title && title !== chat.title) {
      try {
        await api.renameChat(chat.id, title);
        toast("Chat renamed");
      } catch (e) {
        toast(`The chat could not be renamed: ${e.message}`);
      }
    }
    await loadChats().catch((e) => toast(e.message));
    focusChat(chat.id);
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      finish(true);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      finish(false);
    }
  });
  input.addEventListener("blur", () => finish(true));
}

function focusChat(id) {
  document.querySelector(`.chat-item[data-chat-id="${CSS.escape(id)}"] .chat-open`)?.focus();
}

async function deleteChat(chat) {
  try {
    await api.deleteChat(chat.id);
  } catch (e) {
    toast(`The chat could not be deleted: ${e.message}`);
    return;
  }
  if (state.chatId === chat.id) showChat(null);
  await loadChats().catch((e) => toast(e.message));
  toast(`Deleted “${chatTitle(chat)}”`, {
    action: "Undo",
    onAction: async () => {
      try {
        await api.restoreChat(chat.id);
        await loadChats();
        toast("Chat restored");
      } catch (e) {
        toast(`The chat could not be restored: ${e.message}`);
      }
    },
  });
}

// ---------------------------------------------------------------- a chat and its messages

async function openChat(id, { push = true } = {}) {
  const [chat, page] = await Promise.all([api.getChat(id), api.messages(id)]);
  if (push && location.pathname !== `/c/${id}`) history.pushState({}, "", `/c/${id}`);
  state.messages = page.items ?? [];
  showChat(chat);
  renderMessages();
  // A run may still be going (this page was reloaded, or opened elsewhere): reattach.
  const last = state.messages[state.messages.length - 1];
  const unanswered = last && (last.role === "user" || !last.content);
  if (unanswered && state.job?.chatId !== id) {
    try {
      const job = await api.activeJob(id);
      if (job && job.sessionId && isRunning(job.status)) attachJob(job, 0);
    } catch (e) {
      if (e.status !== 404) toast(e.message);
    }
  }
}

function isRunning(status) {
  return ["pending", "queued", "running", "in_progress"].includes(String(status).toLowerCase());
}

function showChat(chat) {
  state.chatId = chat?.id ?? null;
  if (!chat) {
    state.messages = [];
    renderMessages();
    if (location.pathname !== "/") history.pushState({}, "", "/");
  }
  document.title = chat ? `${chatTitle(chat)} · Deep Research` : "Deep Research";
  for (const li of document.querySelectorAll(".chat-item")) {
    if (li.dataset.chatId === state.chatId) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
  }
  // The progress card belongs to the chat whose job is running; a finished run's card
  // (e.g. its error) goes when the user moves on.
  $("progress").hidden = !state.job || state.job.chatId !== state.chatId;
}

function renderMessages() {
  $("welcome").hidden = state.messages.length > 0 || Boolean(state.job);
  // An answer still being written has no content yet: the progress card stands for it.
  const shown = state.messages.filter((m) => m.role === "user" || m.content);
  $("messages").replaceChildren(...shown.map(messageItem));
}

function messageItem(m) {
  const li = document.createElement("li");
  li.className = `message ${m.role === "user" ? "user" : "agent"}`;
  li.dataset.messageId = m.id;
  if (m.role === "user") {
    li.textContent = m.content;
    return li;
  }
  const report = document.createElement("div");
  report.className = "report";
  report.innerHTML = renderMarkdown(m.content);
  li.append(report);

  const verification = document.createElement("div");
  verification.className = "verification";
  verification.setAttribute("aria-label", "Verification");
  li.append(verification, messageActions(m));
  loadVerification(m.id, verification);
  return li;
}

function messageActions(m) {
  const bar = document.createElement("div");
  bar.className = "message-actions";
  const button = (text, label, onClick, className = "") => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = `button ${className}`.trim();
    b.textContent = text;
    if (label) b.setAttribute("aria-label", label);
    b.addEventListener("click", onClick);
    bar.append(b);
    return b;
  };
  button("Sources", "Show sources", () => openSources(m), "show-sources");
  button("Report (.md)", "Download the report as Markdown", () =>
    download(urls.report(m.id), `report-${m.id}.md`).catch((e) => toast(e.message)),
    "export-report");
  button("Provenance (JSON)", "Download the provenance as JSON", () =>
    download(urls.provenance(m.id, "json"), `provenance-${m.id}.json`).catch((e) => toast(e.message)),
    "export-provenance-json");
  button("Provenance (.md)", "Download the verification report as Markdown", () =>
    download(urls.provenance(m.id, "markdown"), `verification-${m.id}.md`).catch((e) => toast(e.message)),
    "export-provenance-md");
  if (state.chatExport !== false) {
    const chatExport = button("Chat (.md)", "Download the whole chat as Markdown", async () => {
      try {
        await download(urls.chatExport(m.chatId), `chat-${m.chatId}.md`);
        state.chatExport = true;
      } catch (e) {
        if (e.status === 404 || e.status === 405) {
          state.chatExport = false;
          for (const b of document.querySelectorAll(".export-chat")) b.hidden = true;
          toast("Exporting a whole chat is not available on this server.");
        } else {
          toast(e.message);
        }
      }
    }, "export-chat");
    chatExport.hidden = state.chatExport === false;
  }
  const up = button("Helpful", "This answer was helpful", () => sendFeedback(m, "positive", up, down), "feedback-up");
  const down = button("Not helpful", "This answer was not helpful", () => sendFeedback(m, "negative", down, up), "feedback-down");
  up.setAttribute("aria-pressed", "false");
  down.setAttribute("aria-pressed", "false");
  return bar;
}

async function sendFeedback(m, rating, pressed, other) {
  try {
    await api.feedback(m.chatId, m.id, rating);
    pressed.setAttribute("aria-pressed", "true");
    other.setAttribute("aria-pressed", "false");
    toast("Thanks for the feedback");
  } catch (e) {
    toast(`Feedback could not be sent: ${e.message}`);
  }
}

function provenance(messageId) {
  if (!state.provenance.has(messageId)) {
    const loaded = Promise.all([api.claims(messageId), api.verificationSummary(messageId)]).then(
      ([claims, summary]) => ({ claims: claims.claims ?? [], summary }),
    );
    loaded.catch(() => state.provenance.delete(messageId));
    state.provenance.set(messageId, loaded);
  }
  return state.provenance.get(messageId);
}

async function loadVerification(messageId, el) {
  let data;
  try {
    data = await provenance(messageId);
  } catch (e) {
    el.textContent = `Verification unavailable: ${e.message}`;
    return;
  }
  const s = data.summary;
  if (!s || !s.totalClaims) {
    el.replaceChildren(badge("No verified claims", ""));
    return;
  }
  const parts = [
    badge(`${s.totalClaims} ${s.totalClaims === 1 ? "claim" : "claims"}`, ""),
    badge(`${s.supportedCount} supported`, "supported"),
  ];
  if (s.partialCount) parts.push(badge(`${s.partialCount} partial`, "partial"));
  if (s.unsupportedCount) parts.push(badge(`${s.unsupportedCount} unsupported`, "unsupported"));
  if (s.contradictedCount) parts.push(badge(`${s.contradictedCount} contradicted`, "contradicted"));
  if (s.warning) parts.push(badge("Check before relying on this report", "warning"));
  el.replaceChildren(...parts);
  el.dataset.total = String(s.totalClaims);
}

function badge(text, kind) {
  const span = document.createElement("span");
  span.className = `badge ${kind}`.trim();
  span.textContent = text;
  return span;
}

// ---------------------------------------------------------------- citations and sources

function wireReport() {
  $("messages").addEventListener("click", (event) => {
    const cite = event.target.closest(".cite");
    if (!cite) return;
    const message = cite.closest(".message");
    const block = cite.closest("p, li, td, blockquote");
    openCitation(message?.dataset.messageId, cite.dataset.cite, block?.textContent ?? "", cite);
  });
}

async function openCitation(messageId, key, context, opener) {
  const panel = $("citation-panel");
  const body = $("citation-body");
  $("citation-title").textContent = `Citation [${key}]`;
  body.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: "Loading…" }));
  openPanel(panel, opener);
  const m = state.messages.find((x) => x.id === messageId);
  let data = { claims: [] };
  try {
    if (messageId) data = await provenance(messageId);
  } catch (e) {
    body.textContent = `The evidence could not be loaded: ${e.message}`;
    return;
  }
  const withKey = data.claims.filter(
    (c) => String(c.citationKey) === key || (c.citationKeys ?? []).map(String).includes(key),
  );
  const here = withKey.filter((c) => context.includes(c.claimText.slice(0, 40)));
  const claims = here.length ? here : withKey;
  const reference = m ? references(m.content).find((r) => r.number === key) : null;
  const parts = [];
  if (reference) parts.push(sourceLine(reference.title, reference.url));
  if (!claims.length) {
    parts.push(Object.assign(document.createElement("p"), {
      className: "muted",
      textContent: "No verified claim cites this source here.",
    }));
  }
  for (const claim of claims) parts.push(claimCard(claim));
  body.replaceChildren(...parts);
}

function claimCard(claim) {
  const div = document.createElement("div");
  div.className = "claim";
  const verdict = (claim.verificationVerdict ?? (claim.abstained ? "abstained" : "unverified")).toLowerCase();
  const head = document.createElement("p");
  head.append(badge(verdict, verdict), " ", claim.claimText);
  div.append(head);
  if (claim.verificationReasoning) {
    div.append(Object.assign(document.createElement("p"), {
      className: "muted small",
      textContent: claim.verificationReasoning,
    }));
  }
  for (const citation of claim.citations ?? []) {
    const span = citation.evidenceSpan ?? {};
    const quote = document.createElement("blockquote");
    quote.className = "evidence";
    quote.textContent = span.quoteText ?? "";
    div.append(quote);
    if (span.source) div.append(sourceLine(span.source.title, span.source.url));
  }
  return div;
}

function sourceLine(title, url) {
  const p = document.createElement("p");
  p.className = "small";
  const safe = url && /^https?:/i.test(url) ? url : null;
  if (safe) {
    const a = document.createElement("a");
    a.href = safe;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    a.textContent = title || safe;
    p.append("Source: ", a);
  } else {
    p.textContent = `Source: ${title || url || "unknown"}`;
  }
  return p;
}

/** The report's `## References` list: `N. [Title](url)`. */
function references(markdown) {
  const section = String(markdown).split(/^##\s+(?:References|Sources)\s*$/im)[1] ?? "";
  const out = [];
  for (const line of section.split("\n")) {
    const m = line.match(/^\s*\[?(\d+)[.\]]\)?\s*(?:\[([^\]]*)\]\(([^)\s]+)\)|(.*))/);
    if (m) out.push({ number: m[1], title: (m[2] ?? m[4] ?? "").trim(), url: m[3] ?? null });
  }
  return out;
}

async function openSources(m) {
  const list = $("sources-body");
  const seen = new Set();
  const items = [];
  for (const r of references(m.content)) {
    seen.add(r.url);
    items.push({ title: r.title, url: r.url, number: r.number });
  }
  openPanel($("sources-panel"), document.activeElement);
  try {
    const data = await provenance(m.id);
    for (const claim of data.claims) {
      for (const c of claim.citations ?? []) {
        const s = c.evidenceSpan?.source;
        if (s && !seen.has(s.url)) {
          seen.add(s.url);
          items.push({ title: s.title, url: s.url });
        }
      }
    }
  } catch {
    // The report's own list is enough.
  }
  list.replaceChildren(
    ...items.map((s) => {
      const li = document.createElement("li");
      if (s.number) li.value = Number(s.number);
      li.append(sourceLine(s.title, s.url));
      return li;
    }),
  );
  if (!items.length) list.textContent = "This answer cites no sources.";
}

function wirePanels() {
  for (const close of document.querySelectorAll(".panel-close")) {
    close.addEventListener("click", () => closePanel(close.closest(".panel")));
  }
  document.addEventListener("keydown", (event) => {
    // A modal dialog closes itself on Escape; the panels behind it stay.
    if (event.key !== "Escape" || document.querySelector("dialog[open]")) return;
    const open = [...document.querySelectorAll(".panel")].find((p) => !p.hidden);
    if (open) {
      closePanel(open);
    } else if ($("sidebar").classList.contains("open")) {
      setSidebar(false);
      $("menu-toggle").focus();
    }
  });
}

let panelOpener = null;

function openPanel(panel, opener) {
  for (const other of document.querySelectorAll(".panel")) if (other !== panel) other.hidden = true;
  panelOpener = opener ?? null;
  panel.hidden = false;
  panel.querySelector(".panel-close").focus();
}

function closePanel(panel) {
  panel.hidden = true;
  panelOpener?.focus?.();
  panelOpener = null;
}

// ---------------------------------------------------------------- asking: research jobs

function wireComposer() {
  const form = $("composer");
  $("query").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = $("query").value.trim();
    if (!query) return;
    const error = $("composer-error");
    error.hidden = true;
    $("send").disabled = true;
    try {
      let chatId = state.chatId;
      if (!chatId) {
        const chat = await api.createChat(query.slice(0, 80));
        chatId = chat.id;
        await openChat(chatId);
      }
      const job = await api.submitJob({
        chat_id: chatId,
        query,
        query_mode: $("mode").value,
        research_depth: $("depth").value,
        verify_sources: true,
      });
      $("query").value = "";
      state.messages.push({ id: `pending-${job.sessionId}`, chatId, role: "user", content: query });
      renderMessages();
      attachJob(job, 0);
      loadChats().catch(() => {});
    } catch (e) {
      error.textContent =
        e.status === 429
          ? "You have too many research runs going: wait for one to finish."
          : e.status === 409
            ? "This chat is already researching a question: wait for it, or stop it."
            : e.message;
      error.hidden = false;
    } finally {
      $("send").disabled = false;
    }
  });
  $("cancel-job").addEventListener("click", async () => {
    const job = state.job;
    if (!job) return;
    try {
      await api.cancelJob(job.sessionId);
      $("progress-status").textContent = "cancelling…";
    } catch (e) {
      toast(`The research could not be stopped: ${e.message}`);
    }
  });
}

function attachJob(job, since) {
  state.job?.stream.close();
  const progress = emptyProgress();
  const el = {
    activity: $("progress-activity"),
    steps: $("plan-steps"),
    searches: $("stat-searches"),
    searchList: $("search-list"),
    sources: $("stat-sources"),
    reflections: $("stat-reflections"),
    verified: $("stat-verified"),
  };
  const current = { sessionId: job.sessionId, chatId: job.chatId, progress, stream: null };
  state.job = current;
  $("progress").hidden = state.chatId !== job.chatId;
  $("progress").dataset.state = "running";
  $("progress").querySelector(".progress-title").textContent = "Researching…";
  $("progress-status").textContent = "running";
  $("progress-status").className = "badge";
  $("welcome").hidden = true;
  $("draft").hidden = true;
  renderProgress(progress, el);
  let frame = 0;
  const draw = () => {
    frame = 0;
    renderProgress(progress, el);
    if (progress.draft) {
      $("draft").hidden = false;
      $("draft").innerHTML = renderMarkdown(progress.draft);
    }
  };
  // The last events are drawn before the run's outcome is shown.
  current.flush = () => {
    if (frame) cancelAnimationFrame(frame);
    draw();
  };
  current.stream = new JobStream(job.sessionId, {
    since,
    onEvent: (event) => {
      applyEvent(progress, event);
      // Many events can arrive at once on a replay: draw once per frame.
      if (!frame) frame = requestAnimationFrame(draw);
    },
    onConnection: (s) => {
      $("connection").textContent =
        s === "reconnecting" ? "Connection lost: reconnecting…" : "";
      $("progress").dataset.connection = s;
    },
    onDone: (status) => finishJob(current, status),
  });
}

async function finishJob(job, status) {
  if (state.job !== job) return;
  state.job = null;
  job.flush();
  $("progress").dataset.state = status;
  $("progress").querySelector(".progress-title").textContent =
    { completed: "Research done", cancelled: "Research stopped" }[status] ?? "Research failed";
  $("progress-status").textContent = status;
  $("progress-status").className = `badge ${status === "completed" ? "supported" : "failed"}`;
  if (status === "completed") {
    $("progress").hidden = true;
  } else {
    $("progress-activity").textContent =
      job.progress.error ?? (status === "cancelled" ? "The research was stopped." : "The research failed.");
  }
  if (state.chatId === job.chatId) {
    try {
      const page = await api.messages(job.chatId);
      state.messages = page.items ?? [];
      renderMessages();
    } catch (e) {
      toast(e.message);
    }
  }
  loadChats().catch(() => {});
  if (status === "completed") toast("The report is ready");
}

// ---------------------------------------------------------------- toasts

/** A short message; with `action`, a button (e.g. Undo) that stays for 8 s. */
function toast(text, { action, onAction } = {}) {
  const div = document.createElement("div");
  div.className = "toast";
  div.setAttribute("role", "status");
  const span = document.createElement("span");
  span.textContent = text;
  div.append(span);
  const remove = () => div.remove();
  if (action) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link-button toast-action";
    b.textContent = action;
    b.addEventListener("click", () => {
      remove();
      onAction();
    });
    div.append(b);
  }
  $("toasts").append(div);
  setTimeout(remove, action ? 8000 : 4000);
}
