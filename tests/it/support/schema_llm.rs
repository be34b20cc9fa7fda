//! A fake model that answers every request from what the request asks for, not from a
//! script: a JSON value valid against the request's schema (`response_format`
//! `json_schema`), tool calls with schema-valid arguments while it offers tools (ReAct),
//! and markdown citing the markers the prompt offers (`[3]`, `[E4]`) otherwise.
//!
//! Its text is as messy as real models' is: arrows (also at line ends), dashes, emoji with
//! ZWJ sequences, CJK, Arabic and Hebrew, combining marks, curly quotes, `\r\n`, numbers
//! with units, list markers and headings, JSON sometimes wrapped in a ```json fence with
//! prose around it. Answers are seeded: a request's answer depends only on the seed and
//! the request's text, so parallel calls arriving in another order get the same answers.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use serde_json::{json, Map, Value};

use super::llm::{FakeLlm, Reply};

/// The seeded fake. [`SchemaModel::serve`] installs it on a [`FakeLlm`].
#[derive(Clone, Copy, Debug)]
pub struct SchemaModel {
    seed: u64,
    plain: bool,
}

impl SchemaModel {
    /// A fake whose answers are fixed by `seed`.
    pub fn new(seed: u64) -> SchemaModel {
        SchemaModel { seed, plain: false }
    }

    /// The same fake writing prose as a competent model does: plain English, a few
    /// sections, every sentence citing a quote or source it was offered. For suites that,
    /// like someone trying the product, expect an answer with citations in it (the
    /// original's e2e suite clicks citation `[1]`); its JSON answers stay as messy.
    pub fn plain(seed: u64) -> SchemaModel {
        SchemaModel { seed, plain: true }
    }

    /// Answer every request to `models` on `llm` (after any scripted replies).
    pub fn serve(self, llm: &FakeLlm, models: &[&str]) {
        for model in models {
            llm.respond(model, move |body| self.reply(body));
        }
    }

    /// The answer to one request body.
    pub fn reply(&self, body: &Value) -> Reply {
        // Databricks serves embeddings models on the chat path too; the fake's own vectors.
        if body.get("input").is_some() && body.get("messages").is_none() {
            return Reply::Embeddings;
        }
        let mut rng = fastrand::Rng::with_seed(self.seed ^ fingerprint(body));
        if let Some(schema) = body
            .pointer("/response_format/json_schema/schema")
            .or_else(|| body.pointer("/response_format/schema"))
        {
            let mut value = generate(&mut rng, schema, schema, None, 0);
            if self.plain {
                // A competent verifier finds a quote-backed claim supported.
                if let Some(verdict) = value.get_mut("verdict").filter(|v| v.is_string()) {
                    *verdict = Value::from("supported");
                }
            }
            return Reply::Text(wrap_json(&mut rng, &value));
        }
        let tools = body["tools"].as_array().cloned().unwrap_or_default();
        if !tools.is_empty() {
            if let Some(calls) = tool_turn(&mut rng, body, &tools) {
                return Reply::ToolCalls(calls);
            }
        }
        let offered = Offered::from_body(body);
        let text = if self.plain {
            plain_report(&mut rng, &offered, &quotes_offered(body))
        } else {
            markdown(&mut rng, &offered)
        };
        if body["stream"].as_bool() == Some(true) {
            if self.plain {
                // At a hosted model's pace (~30 tokens/s), so a person (or a test) can
                // watch the answer arrive and stop it.
                Reply::Paced(Duration::from_millis(120), pieces(&mut rng, &text))
            } else {
                Reply::Stream(pieces(&mut rng, &text))
            }
        } else {
            Reply::Text(text)
        }
    }
}

/// FNV-1a of the request's text (roles, contents, tool names and arguments, the schema's
/// name), leaving out what changes between runs of the same conversation (tool-call ids).
fn fingerprint(body: &Value) -> u64 {
    let mut text = String::new();
    for m in body["messages"].as_array().into_iter().flatten() {
        text.push_str(m["role"].as_str().unwrap_or_default());
        text.push('\u{1}');
        text.push_str(m["content"].as_str().unwrap_or_default());
        for call in m["tool_calls"].as_array().into_iter().flatten() {
            text.push_str(call["function"]["name"].as_str().unwrap_or_default());
            text.push_str(call["function"]["arguments"].as_str().unwrap_or_default());
        }
        text.push('\u{2}');
    }
    text.push_str(
        body.pointer("/response_format/json_schema/name")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------------------
// Messy text

/// Words and phrases a model's text is made of, multi-byte ones well represented.
const WORDS: &[&str] = &[
    "energy density",
    "cell cost",
    "the delta",
    "wetlands",
    "sediment",
    "survey",
    "pack-level",
    "since 1990",
    "grew",
    "fell",
    "reportedly",
    "according to the study",
    "roughly",
    "→",
    "—",
    "–",
    "…",
    "≈",
    "±",
    "“solid-state”",
    "‘LFP’",
    "«chimie»",
    "naïve",
    "café",
    "Zürich",
    "e\u{301}tude",
    "n\u{303}andu\u{301}",
    "a\u{308}\u{332}",
    "👩‍🔬",
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈",
    "🧑🏽‍💻",
    "🔋",
    "⚡",
    "✅",
    "📈",
    "电池能量密度",
    "锂离子电池的成本",
    "リチウムイオン電池",
    "エネルギー密度（セル）",
    "배터리 수명",
    "بطارية الليثيوم",
    "كثافة الطاقة",
    "סוללת ליתיום",
    "צפיפות אנרגיה",
    "\u{200f}RTL\u{200e}",
    "Ελληνικά",
    "Привет",
    "x\u{00a0}y",
    "½",
    "µm",
];

/// Numbers with their units, as sources and models write them.
const QUANTITIES: &[&str] = &[
    "212 Wh/kg",
    "198 Wh/kg",
    "3.7 V",
    "1 200 mAh",
    "−20 °C",
    "15 %",
    "42 stations",
    "$132/kWh",
    "4,5 €",
    "2,4 km²",
    "1.5 × 10⁶ t",
    "300 ms",
    "12 GWh",
    "0.8 mm/yr",
    "２０２４年",
    "٣٫٥ كغ",
];

/// What a line may end with after its text: often nothing, often an arrow.
const LINE_ENDS: &[&str] = &[
    " →",
    "→",
    " ⟶",
    " —",
    "…",
    " ✅",
    " 🔋",
    " 👩‍🔬",
    "（注）",
    " ليثيوم",
    " ✔︎",
    " ⚠",
];

fn pick<'a>(rng: &mut fastrand::Rng, items: &[&'a str]) -> &'a str {
    items[rng.usize(..items.len())]
}

/// A run of `min..=max` words and quantities.
fn phrase(rng: &mut fastrand::Rng, min: usize, max: usize) -> String {
    let n = rng.usize(min.max(1)..=max.max(min).max(1));
    (0..n)
        .map(|_| {
            if rng.u8(..6) == 0 {
                pick(rng, QUANTITIES)
            } else {
                pick(rng, WORDS)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A sentence without its final punctuation; most carry a number with its unit.
fn clause(rng: &mut fastrand::Rng) -> String {
    let mut s = phrase(rng, 3, 8);
    if rng.bool() {
        s = format!("{s} {} {}", pick(rng, QUANTITIES), phrase(rng, 1, 3));
    }
    match rng.u8(..8) {
        0 => format!("“{s}”"),
        1 => format!("{s} (\u{2067}{}\u{2069})", pick(rng, WORDS)),
        _ => s,
    }
}

// ---------------------------------------------------------------------------------------
// JSON from a schema

/// A value valid against `schema` (`root` resolves `$ref`s). `name` is the property it
/// fills, which decides how long a string runs.
fn generate(
    rng: &mut fastrand::Rng,
    schema: &Value,
    root: &Value,
    name: Option<&str>,
    depth: usize,
) -> Value {
    let schema = match schema {
        Value::Bool(_) => return Value::String(phrase(rng, 2, 2)),
        Value::Object(s) => s,
        _ => return Value::Null,
    };
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        let resolved = target
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer))
            .cloned()
            .unwrap_or(json!({}));
        return generate(rng, &resolved, root, name, depth + 1);
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.is_empty() {
            return options[rng.usize(..options.len())].clone();
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        return generate(rng, &merged(all, root), root, name, depth + 1);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            if let Some(branch) = choose_branch(rng, branches) {
                // Keywords beside the branches (a description, a default) apply as well.
                return generate(rng, branch, root, name, depth + 1);
            }
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => {
            let types: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            let real: Vec<&str> = types.iter().copied().filter(|t| *t != "null").collect();
            if real.is_empty() || (types.contains(&"null") && rng.u8(..5) == 0) {
                "null".into()
            } else {
                pick(rng, &real).to_string()
            }
        }
        _ if schema.contains_key("properties") => "object".into(),
        _ if schema.contains_key("items") => "array".into(),
        _ => "string".into(),
    };
    match kind.as_str() {
        "object" => object(rng, schema, root, depth),
        "array" => array(rng, schema, root, name, depth),
        "integer" => integer(rng, schema),
        "number" => number(rng, schema),
        "boolean" => Value::Bool(rng.bool()),
        "null" => Value::Null,
        _ => string(rng, schema, name),
    }
}

/// A branch of `oneOf`/`anyOf`, `null` only now and then.
fn choose_branch<'a>(rng: &mut fastrand::Rng, branches: &'a [Value]) -> Option<&'a Value> {
    let is_null = |b: &Value| b.get("type").and_then(Value::as_str) == Some("null");
    let real: Vec<&Value> = branches.iter().filter(|b| !is_null(b)).collect();
    if real.is_empty() || (real.len() < branches.len() && rng.u8(..5) == 0) {
        return branches.first();
    }
    Some(real[rng.usize(..real.len())])
}

/// `allOf`'s object schemas as one (properties and `required` joined; the first schema's
/// other keywords).
fn merged(all: &[Value], root: &Value) -> Value {
    let mut out = Map::new();
    let mut properties = Map::new();
    let mut required = Vec::new();
    for part in all {
        let part = match part.get("$ref").and_then(Value::as_str) {
            Some(target) => target
                .strip_prefix('#')
                .and_then(|p| root.pointer(p))
                .cloned()
                .unwrap_or(json!({})),
            None => part.clone(),
        };
        let Value::Object(part) = part else { continue };
        for (k, v) in &part {
            match k.as_str() {
                "properties" => {
                    if let Value::Object(p) = v {
                        properties.extend(p.clone());
                    }
                }
                "required" => required.extend(v.as_array().cloned().unwrap_or_default()),
                _ => {
                    out.entry(k.clone()).or_insert(v.clone());
                }
            }
        }
    }
    if !properties.is_empty() {
        out.insert("properties".into(), Value::Object(properties));
        out.insert("required".into(), Value::Array(required));
    }
    Value::Object(out)
}

fn object(
    rng: &mut fastrand::Rng,
    schema: &Map<String, Value>,
    root: &Value,
    depth: usize,
) -> Value {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut out = Map::new();
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (key, sub) in properties {
            // Optional properties come and go, fewer of them the deeper the value.
            if required.contains(&key.as_str()) || (depth < 6 && rng.u8(..10) < 6) {
                out.insert(key.clone(), generate(rng, sub, root, Some(key), depth + 1));
            }
        }
    }
    Value::Object(out)
}

fn array(
    rng: &mut fastrand::Rng,
    schema: &Map<String, Value>,
    root: &Value,
    name: Option<&str>,
    depth: usize,
) -> Value {
    let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = schema
        .get("maxItems")
        .and_then(Value::as_u64)
        .map_or(min + 5, |m| m as usize)
        .max(min);
    let n = rng.usize(min..=max.min(min + 5));
    let items = schema
        .get("items")
        .cloned()
        .unwrap_or(json!({"type": "string"}));
    Value::Array(
        (0..n)
            .map(|_| generate(rng, &items, root, name, depth + 1))
            .collect(),
    )
}

fn integer(rng: &mut fastrand::Rng, schema: &Map<String, Value>) -> Value {
    let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
    let low = bound("minimum")
        .or(bound("exclusiveMinimum").map(|m| m.floor() + 1.0))
        .unwrap_or(-3.0)
        .ceil() as i64;
    let high = bound("maximum")
        .or(bound("exclusiveMaximum").map(|m| m.ceil() - 1.0))
        .unwrap_or(low as f64 + 8.0)
        .floor() as i64;
    json!(rng.i64(low..=high.max(low)))
}

fn number(rng: &mut fastrand::Rng, schema: &Map<String, Value>) -> Value {
    let low = schema
        .get("minimum")
        .and_then(Value::as_f64)
        .unwrap_or(-10.0);
    let high = schema
        .get("maximum")
        .and_then(Value::as_f64)
        .unwrap_or(low + 300.0)
        .max(low);
    let x = low + rng.f64() * (high - low);
    json!((x * 100.0).round().clamp(low * 100.0, high * 100.0) / 100.0)
}

/// Messy text within the schema's length bounds (counted in characters, as JSON Schema
/// does). Free-text fields get sentences, with `\r\n` between them now and then.
fn string(rng: &mut fastrand::Rng, schema: &Map<String, Value>, name: Option<&str>) -> Value {
    let long = matches!(
        name,
        Some("reasoning" | "thought" | "description" | "direct_answer" | "summary")
    );
    let mut s = if long {
        let n = 1 + rng.usize(..3);
        (0..n)
            .map(|_| format!("{}.", clause(rng)))
            .collect::<Vec<_>>()
            .join(if rng.u8(..3) == 0 { "\r\n" } else { " " })
    } else {
        phrase(rng, 1, 5)
    };
    if rng.u8(..6) == 0 {
        s.push_str(pick(rng, LINE_ENDS));
    }
    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = schema
        .get("maxLength")
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    while s.chars().count() < min {
        s.push_str(" 🔋→");
    }
    if let Some(max) = max {
        s = s.chars().take(max).collect();
    }
    Value::String(s)
}

/// The JSON as a model sends it: bare, pretty (sometimes with `\r\n`), or in a fence
/// between remarks.
fn wrap_json(rng: &mut fastrand::Rng, value: &Value) -> String {
    let compact = value.to_string();
    let pretty = serde_json::to_string_pretty(value).unwrap_or_else(|_| compact.clone());
    match rng.u8(..20) {
        0..=9 => compact,
        10..=12 => pretty,
        // JSON whitespace may be `\r\n`; string contents keep theirs escaped.
        13..=14 => pretty.replace('\n', "\r\n"),
        15..=17 => format!(
            "{} →\n```json\n{pretty}\n```\n{}",
            pick(
                rng,
                &[
                    "Here is the JSON",
                    "Voilà — le résultat",
                    "以下が回答です",
                    "إليك النتيجة"
                ]
            ),
            pick(
                rng,
                &[
                    "",
                    "Hope this helps 🙂",
                    "✅ 完成",
                    "Let me know if you need more —"
                ]
            ),
        ),
        _ => format!(
            "{}\n\n{compact}",
            pick(
                rng,
                &["Sure — here it is:", "Résumé ✨ :", "好的：", "בסדר, הנה:"]
            ),
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Tool calls

static URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"https?://[^\s)\]"'<>]+"#).expect("constant pattern"));

/// Calls to make this turn, or `None` to answer. The first turn usually searches; later
/// turns fetch pages whose URLs the conversation shows, now and then search again, and
/// answer after a few rounds. Arguments are generated from each tool's schema; a `url`
/// argument names a URL seen in the conversation.
fn tool_turn(
    rng: &mut fastrand::Rng,
    body: &Value,
    tools: &[Value],
) -> Option<Vec<(String, String)>> {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let rounds = messages
        .iter()
        .filter(|m| m["tool_calls"].as_array().is_some_and(|c| !c.is_empty()))
        .count();
    let spec = |t: &Value| {
        (
            t["function"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            t["function"]["parameters"].clone(),
        )
    };
    let takes_url = |params: &Value| params.pointer("/properties/url").is_some();
    let searches: Vec<(String, Value)> = tools
        .iter()
        .map(spec)
        .filter(|(_, p)| !takes_url(p))
        .collect();
    let fetches: Vec<(String, Value)> = tools
        .iter()
        .map(spec)
        .filter(|(_, p)| takes_url(p))
        .collect();

    let mut seen: Vec<String> = Vec::new();
    for m in &messages {
        if m["role"] == "tool" || m["role"] == "user" {
            for u in URL.find_iter(m["content"].as_str().unwrap_or_default()) {
                let u = u.as_str().trim_end_matches(['.', ',', ';']).to_string();
                if !seen.contains(&u) {
                    seen.push(u);
                }
            }
        }
    }
    let fetched: Vec<String> = messages
        .iter()
        .flat_map(|m| m["tool_calls"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| {
            let args: Value = serde_json::from_str(c["function"]["arguments"].as_str()?).ok()?;
            args["url"].as_str().map(str::to_string)
        })
        .collect();
    let fresh: Vec<&String> = seen.iter().filter(|u| !fetched.contains(u)).collect();

    let answer_now = match rounds {
        0 => rng.u8(..20) == 0,
        1..=2 => false,
        r => rng.usize(..6) < r,
    };
    if answer_now {
        return None;
    }
    let mut calls = Vec::new();
    let fetch_now = !fetches.is_empty() && !fresh.is_empty() && (rounds > 0 && rng.u8(..10) < 7);
    if fetch_now {
        let (name, params) = &fetches[rng.usize(..fetches.len())];
        let n = 1 + rng.usize(..3.min(fresh.len()));
        for i in 0..n {
            let mut args = generate(rng, params, params, None, 0);
            // Now and then a page already fetched, as models do.
            let url = if rng.u8(..10) == 0 && !fetched.is_empty() {
                fetched[rng.usize(..fetched.len())].clone()
            } else {
                fresh[(i + rng.usize(..fresh.len())) % fresh.len()].clone()
            };
            args["url"] = Value::String(url);
            calls.push((name.clone(), args.to_string()));
        }
    } else if !searches.is_empty() {
        let (name, params) = &searches[rng.usize(..searches.len())];
        for _ in 0..1 + rng.usize(..2) {
            calls.push((
                name.clone(),
                generate(rng, params, params, None, 0).to_string(),
            ));
        }
    }
    (!calls.is_empty()).then_some(calls)
}

// ---------------------------------------------------------------------------------------
// Markdown

/// The citation markers a prompt offers.
struct Offered {
    sources: Vec<u32>,
    evidence: Vec<u32>,
}

static SOURCE_MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[(\d{1,4})\]").expect("constant pattern"));
static EVIDENCE_MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[E(\d{1,4})\]").expect("constant pattern"));

impl Offered {
    /// Markers in the user and tool messages (the system prompt's are examples only).
    fn from_body(body: &Value) -> Offered {
        let mut offered = Offered {
            sources: Vec::new(),
            evidence: Vec::new(),
        };
        for m in body["messages"].as_array().into_iter().flatten() {
            if m["role"] == "system" || m["role"] == "assistant" {
                continue;
            }
            let text = m["content"].as_str().unwrap_or_default();
            for (regex, into) in [
                (&*SOURCE_MARKER, &mut offered.sources),
                (&*EVIDENCE_MARKER, &mut offered.evidence),
            ] {
                for c in regex.captures_iter(text) {
                    if let Ok(n) = c[1].parse::<u32>() {
                        if !into.contains(&n) {
                            into.push(n);
                        }
                    }
                }
            }
        }
        offered
    }

    /// One to three markers, mostly offered ones, in the forms models use (`[2]`,
    /// `[2][5]`, `[2, 5]`, `[E3]`); now and then one the prompt never offered.
    fn cite(&self, rng: &mut fastrand::Rng) -> String {
        if rng.u8(..25) == 0 {
            return pick(rng, &["[99]", "[E77]", "[0]"]).to_string();
        }
        let use_evidence =
            !self.evidence.is_empty() && (self.sources.is_empty() || rng.u8(..10) < 7);
        let pool = if use_evidence {
            &self.evidence
        } else {
            &self.sources
        };
        if pool.is_empty() {
            return String::new();
        }
        let n = 1 + rng.usize(..2.min(pool.len()));
        let chosen: Vec<u32> = (0..n).map(|_| pool[rng.usize(..pool.len())]).collect();
        if use_evidence {
            return chosen.iter().map(|n| format!("[E{n}]")).collect();
        }
        if chosen.len() > 1 && rng.bool() {
            let list: Vec<String> = chosen.iter().map(u32::to_string).collect();
            return format!("[{}]", list.join(", "));
        }
        chosen.iter().map(|n| format!("[{n}]")).collect()
    }
}

/// A cited sentence: its markers before the full stop, or (sloppily) after it.
fn cited_sentence(rng: &mut fastrand::Rng, offered: &Offered) -> String {
    let text = clause(rng);
    let markers = offered.cite(rng);
    let stop = pick(rng, &[".", ".", ".", ".", "。", "!", "?", "…", "！"]);
    match (markers.is_empty(), rng.u8(..8)) {
        (true, _) => format!("{text}{stop}"),
        (false, 0) => format!("{text}{stop} {markers}"),
        (false, 1) => format!("{markers} {text}{stop}"),
        (false, _) => format!("{text} {markers}{stop}"),
    }
}

/// A markdown document: title, paragraphs, bullet and numbered lists, headings, lines
/// ending in arrows or emoji, `\r\n` here and there, sometimes a references section of
/// its own (which the engine replaces).
fn markdown(rng: &mut fastrand::Rng, offered: &Offered) -> String {
    let mut lines: Vec<String> = Vec::new();
    if rng.u8(..3) > 0 {
        lines.push(format!("# {}", phrase(rng, 2, 5)));
        lines.push(String::new());
    }
    let sections = 1 + rng.usize(..4);
    for s in 0..sections {
        if s > 0 || rng.bool() {
            lines.push(format!(
                "{} {}",
                pick(rng, &["##", "###", "##"]),
                phrase(rng, 1, 4)
            ));
            lines.push(String::new());
        }
        match rng.u8(..6) {
            0 => {
                let sentences: Vec<String> = (0..1 + rng.usize(..4))
                    .map(|_| cited_sentence(rng, offered))
                    .collect();
                lines.push(sentences.join(" "));
            }
            // One very long line, tabs and all.
            3 => {
                let sentences: Vec<String> = (0..20 + rng.usize(..30))
                    .map(|_| cited_sentence(rng, offered))
                    .collect();
                lines.push(sentences.join(pick(rng, &[" ", "\t", "  "])));
            }
            4 => {
                lines.push("| Metric | Value | Source |".into());
                lines.push("|---|---:|---|".into());
                for _ in 0..1 + rng.usize(..4) {
                    let (metric, value, cite) =
                        (phrase(rng, 1, 2), pick(rng, QUANTITIES), offered.cite(rng));
                    lines.push(format!("| {metric} | {value} | {cite} |"));
                }
            }
            5 => {
                lines.push(format!("> {}", cited_sentence(rng, offered)));
                lines.push(format!(
                    "> `[{}] {}` — {}",
                    rng.u8(1..9),
                    phrase(rng, 1, 2),
                    cited_sentence(rng, offered)
                ));
                // A list item left empty, and a nested one.
                lines.push(pick(rng, &["-", "1.", "2)", "*", "- →", "3. —"]).to_string());
                lines.push(format!("  - {}", cited_sentence(rng, offered)));
            }
            kind => {
                for i in 0..1 + rng.usize(..5) {
                    let marker = if kind == 1 {
                        pick(rng, &["-", "*", "-", "+"]).to_string()
                    } else if rng.u8(..4) == 0 {
                        format!("{})", i + 1)
                    } else {
                        format!("{}.", i + 1)
                    };
                    let item = if rng.u8(..5) == 0 {
                        format!(
                            "**{}** — {}",
                            phrase(rng, 2, 2),
                            cited_sentence(rng, offered)
                        )
                    } else {
                        cited_sentence(rng, offered)
                    };
                    lines.push(format!("{marker} {item}"));
                }
            }
        }
        lines.push(String::new());
    }
    if rng.u8(..6) == 0 {
        lines.push(format!(
            "## {}",
            pick(rng, &["References", "Sources", "参考文献"])
        ));
        for n in offered.sources.iter().take(3) {
            lines.push(format!("- [{n}] {}", phrase(rng, 2, 2)));
        }
    }
    let crlf = rng.u8(..4) == 0;
    let mut out = String::new();
    for line in lines {
        out.push_str(&line);
        if !line.is_empty() && rng.u8(..4) == 0 {
            out.push_str(pick(rng, LINE_ENDS));
        }
        out.push_str(if crlf || rng.u8(..12) == 0 {
            "\r\n"
        } else {
            "\n"
        });
    }
    out
}

/// The quotes of the prompt's evidence block (`[E4] from source [1] Title` then the quote
/// in double quotes), by id.
fn quotes_offered(body: &Value) -> Vec<(u32, String)> {
    static QUOTE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"\[E(\d{1,4})\] from source \[\d+\][^\n]*\n"([^\n]+)""#)
            .expect("constant pattern")
    });
    let mut out = Vec::new();
    for m in body["messages"].as_array().into_iter().flatten() {
        if m["role"] != "user" {
            continue;
        }
        for c in QUOTE.captures_iter(m["content"].as_str().unwrap_or_default()) {
            if let Ok(id) = c[1].parse::<u32>() {
                out.push((id, c[2].trim().to_string()));
            }
        }
    }
    out
}

/// A report as a competent model writes one: a title, sections whose sentences restate
/// the offered quotes and cite them (or cite the offered sources), so every one is cited
/// and each claim is backed by its quote; with nothing to cite, a short plain answer.
fn plain_report(rng: &mut fastrand::Rng, offered: &Offered, quotes: &[(u32, String)]) -> String {
    let sentences: Vec<String> = if !quotes.is_empty() {
        // Every offered source is named once, whichever sources the quotes come from.
        let named = offered
            .sources
            .iter()
            .map(|n| format!("Source [{n}] is one of the documents this research examined."));
        quotes
            .iter()
            .take(10)
            .map(|(id, quote)| format!("{} [E{id}].", quote.trim_end_matches(['.', '!', '?'])))
            .chain(named)
            .collect()
    } else {
        offered
            .sources
            .iter()
            .map(|n| {
                format!(
                    "The research notes report a measured value of {} [{n}].",
                    pick(rng, QUANTITIES)
                )
            })
            .collect()
    };
    if sentences.is_empty() {
        // A direct answer of a few sentences, as long as a hosted model's usually is.
        return [
            "Research on this question points to a few well documented findings.",
            "The data suggest the effect is real but smaller than often reported.",
            "Most studies measure it over several years, which makes short-term changes hard to see.",
            "Where the measurements disagree, the difference usually comes from how the samples were chosen.",
            "A careful reading of the current research supports a cautious answer rather than a bold one.",
        ]
        .join(" ")
            + "\n";
    }
    let mut out = String::from("# Research summary\n");
    for (i, sentence) in sentences.iter().take(14).enumerate() {
        if i % 3 == 0 {
            out.push_str(&format!("\n## Finding group {}\n\n", i / 3 + 1));
        }
        out.push_str(sentence);
        out.push(' ');
    }
    out.push_str("\n\n## Summary\n\nThe sources agree on the main points of the research.\n");
    out
}

/// The text in stream pieces of 1 to 40 characters (split between characters, never
/// inside one).
fn pieces(rng: &mut fastrand::Rng, text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let n = (1 + rng.usize(..40)).min(chars.len() - at);
        out.push(chars[at..at + n].iter().collect());
        at += n;
    }
    out
}
