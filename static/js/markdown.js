// A small Markdown renderer for reports that is safe by construction: every piece of text
// is HTML-escaped before any markup is added, the only tags produced are the ones below,
// and links keep only http(s), mailto and same-site targets. Raw HTML in the source is
// shown as text. Citation markers `[n]` become buttons (class "cite", data-cite="n").

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Markdown → HTML string (safe to assign to innerHTML). */
export function renderMarkdown(source) {
  const lines = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  return blocks(lines).join("\n");
}

/** A URL safe to put in href, or null. */
export function safeUrl(raw) {
  const url = String(raw).trim();
  if (/^(https?:|mailto:)/i.test(url)) return url;
  if (/^(\/(?!\/)|#)/.test(url)) return url;
  return null;
}

function blocks(lines) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i++; continue; }

    const fence = line.match(/^\s*(```|~~~)\s*([\w+-]*)\s*$/);
    if (fence) {
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i++;
      const lang = fence[2] ? ` data-lang="${escapeHtml(fence[2])}"` : "";
      out.push(`<pre${lang}><code>${escapeHtml(body.join("\n"))}</code></pre>`);
      continue;
    }

    const heading = line.match(/^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/);
    if (heading) {
      const level = heading[1].length;
      out.push(`<h${level}>${inline(heading[2])}</h${level}>`);
      i++;
      continue;
    }

    if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
      out.push("<hr>");
      i++;
      continue;
    }

    if (/^\s{0,3}>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s{0,3}>/.test(lines[i])) {
        quoted.push(lines[i].replace(/^\s{0,3}>\s?/, ""));
        i++;
      }
      out.push(`<blockquote>${blocks(quoted).join("\n")}</blockquote>`);
      continue;
    }

    if (line.includes("|") && i + 1 < lines.length && isTableRule(lines[i + 1])) {
      const head = cells(line);
      const rows = [];
      i += 2;
      while (i < lines.length && lines[i].includes("|") && lines[i].trim()) rows.push(cells(lines[i++]));
      const th = head.map((c) => `<th>${inline(c)}</th>`).join("");
      const trs = rows
        .map((r) => `<tr>${head.map((_, k) => `<td>${inline(r[k] ?? "")}</td>`).join("")}</tr>`)
        .join("");
      out.push(`<table><thead><tr>${th}</tr></thead><tbody>${trs}</tbody></table>`);
      continue;
    }

    if (listItem(line)) {
      const items = [];
      while (i < lines.length) {
        const item = listItem(lines[i]);
        if (item) {
          items.push({ ...item, text: [item.text] });
          i++;
        } else if (lines[i].trim() && /^\s+\S/.test(lines[i]) && items.length) {
          items[items.length - 1].text.push(lines[i].trim());
          i++;
        } else {
          break;
        }
      }
      out.push(list(items, 0).html);
      continue;
    }

    const para = [];
    while (
      i < lines.length && lines[i].trim() && !listItem(lines[i]) &&
      !/^\s{0,3}(#{1,6}\s|>|```|~~~)/.test(lines[i])
    ) {
      para.push(lines[i].trim());
      i++;
    }
    out.push(`<p>${inline(para.join("\n")).replace(/\n/g, " ")}</p>`);
  }
  return out;
}

function listItem(line) {
  const m = line.match(/^(\s*)([-*+]|(\d{1,9})[.)])\s+(.*)$/);
  if (!m) return null;
  return { indent: m[1].length, ordered: m[3] !== undefined, number: m[3], text: m[4] };
}

/** Items from `start` at the first item's indent, deeper ones nested; returns html and next. */
function list(items, start) {
  const first = items[start];
  const tag = first.ordered ? "ol" : "ul";
  let html = `<${tag}>`;
  let k = start;
  while (k < items.length && items[k].indent >= first.indent) {
    const item = items[k];
    if (item.indent > first.indent) {
      const nested = list(items, k);
      html = html.replace(/<\/li>$/, `${nested.html}</li>`);
      k = nested.next;
      continue;
    }
    const value = item.ordered ? ` value="${Number(item.number)}"` : "";
    html += `<li${value}>${inline(item.text.join(" "))}</li>`;
    k++;
  }
  return { html: `${html}</${tag}>`, next: k };
}

function isTableRule(line) {
  return /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/.test(line) && line.includes("-");
}

function cells(line) {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
}

/** Inline markup on escaped text: code, links, bold, italic, citation markers. */
function inline(text) {
  const held = [];
  const hold = (html) => `\u0000${held.push(html) - 1}\u0000`;
  let s = String(text).replace(/\u0000/g, "");
  s = s.replace(/`([^`]+)`/g, (_, code) => hold(`<code>${escapeHtml(code)}</code>`));
  s = s.replace(/\[([^\]]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g, (whole, label, href) => {
    const url = safeUrl(href);
    if (!url) return hold(escapeHtml(label));
    return hold(
      `<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer nofollow">${inlineText(label)}</a>`,
    );
  });
  s = s.replace(/<(https?:\/\/[^\s>]+)>/g, (_, url) =>
    hold(`<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer nofollow">${escapeHtml(url)}</a>`),
  );
  s = s.replace(/\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g, (_, list) =>
    list
      .split(",")
      .map((n) => n.trim())
      .map((n) => hold(`<button type="button" class="cite" data-cite="${n}" aria-label="Citation ${n}">[${n}]</button>`))
      .join(""),
  );
  s = inlineText(s);
  return s.replace(/\u0000(\d+)\u0000/g, (_, n) => held[Number(n)]);
}

/** Escape, then bold and italic (placeholders pass through untouched). */
function inlineText(text) {
  return escapeHtml(text)
    .replace(/\*\*(?=\S)(.+?)\*\*/g, "<strong>$1</strong>")
    .replace(/__(?=\S)(.+?)__/g, "<strong>$1</strong>")
    .replace(/(^|[^*\w])\*(?=\S)([^*]+?)\*(?!\w)/g, "$1<em>$2</em>")
    .replace(/(^|[^_\w])_(?=\S)([^_]+?)_(?!\w)/g, "$1<em>$2</em>");
}
