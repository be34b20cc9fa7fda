//! The coordinator, planner and reflector against a fake model server: what they send,
//! and the rules they enforce on what comes back.

use crate::support::llm::{FakeLlm, Reply};
use dra::config::AppConfig;
use dra::llm::{LlmError, LlmRouter, Message};
use dra::research::agents::{
    classify, plan, reflect, Agent, AgentError, CompletedStep, Decision, Plan, QueryMode, StepType,
};
use dra::research::config::{CoordinatorAgent, Depth, ResearchTypes};
use serde_json::{json, Value};

/// Tiers (model `ep-<tier>`), no retries.
fn config(fake: &FakeLlm, tiers: &[&str]) -> AppConfig {
    let mut c = AppConfig::default();
    crate::support::llm::add_tiers(&mut c, fake, tiers);
    c
}

fn router(c: &AppConfig) -> LlmRouter {
    crate::support::llm::router(c)
}

async fn world() -> (FakeLlm, LlmRouter) {
    let fake = FakeLlm::start().await;
    let r = router(&config(&fake, &["simple", "analytical"]));
    (fake, r)
}

fn say(value: Value) -> Reply {
    Reply::Text(value.to_string())
}

/// The content of message `index` of a recorded request.
fn message(call: &crate::support::llm::Call, index: usize) -> String {
    call.body["messages"][index]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn ambiguous_answer() -> Value {
    json!({
        "mode": "deep_research",
        "depth": "medium",
        "is_ambiguous": true,
        "clarifying_questions": ["Which country?", "Which years?", "Retail or wholesale?", "Why?"],
        "direct_answer": null,
        "reasoning": "Scope is unclear."
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn coordinator_parses_a_scripted_answer_on_the_simple_tier() {
    let (fake, r) = world().await;
    fake.script("ep-simple", vec![say(ambiguous_answer())]);
    let history = [
        Message::user("Tell me about electricity prices"),
        Message::assistant("Sure, what would you like to know?"),
    ];
    let c = classify(
        &r,
        "How did prices change?",
        &history,
        0,
        &CoordinatorAgent::default(),
    )
    .await
    .unwrap();
    assert_eq!((c.mode, c.depth), (QueryMode::DeepResearch, Depth::Medium));
    assert!(c.is_ambiguous);
    assert_eq!(
        c.clarifying_questions,
        ["Which country?", "Which years?", "Retail or wholesale?"],
        "capped at three"
    );
    assert_eq!(c.reasoning, "Scope is unclear.");
    let event = serde_json::to_value(c.clarification_event(2).unwrap()).unwrap();
    assert_eq!(event["eventType"], "clarification_needed");
    assert_eq!(event["round"], 2);
    assert_eq!(event["questions"].as_array().map(Vec::len), Some(3));

    let calls = fake.calls_to("ep-simple");
    assert_eq!(calls.len(), 1);
    let user = message(&calls[0], 1);
    assert!(user.contains("How did prices change?") && user.contains("electricity prices"));
}

#[tokio::test(flavor = "multi_thread")]
async fn coordinator_keeps_a_direct_answer_for_simple_queries_only() {
    let (fake, r) = world().await;
    fake.script(
        "ep-simple",
        vec![say(json!({
            "mode": "simple", "depth": "light", "is_ambiguous": false,
            "clarifying_questions": [], "direct_answer": "Hello! How can I help?",
            "reasoning": "A greeting."
        }))],
    );
    let c = classify(&r, "hi", &[], 0, &CoordinatorAgent::default())
        .await
        .unwrap();
    assert_eq!(c.mode, QueryMode::Simple);
    assert_eq!(c.direct_answer.as_deref(), Some("Hello! How can I help?"));
    assert_eq!(c.clarification_event(1), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn disabled_clarification_clears_questions() {
    let (fake, r) = world().await;
    fake.script("ep-simple", vec![say(ambiguous_answer())]);
    let cfg = CoordinatorAgent {
        enable_clarification: false,
        ..CoordinatorAgent::default()
    };
    let c = classify(&r, "prices?", &[], 0, &cfg).await.unwrap();
    assert!(!c.is_ambiguous);
    assert!(c.clarifying_questions.is_empty());
    assert_eq!(c.clarification_event(1), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_questions_once_the_clarification_rounds_are_used_up() {
    let (fake, r) = world().await;
    fake.always("ep-simple", say(ambiguous_answer()));
    let cfg = CoordinatorAgent {
        max_clarification_rounds: 2,
        ..CoordinatorAgent::default()
    };
    let second = classify(&r, "prices?", &[], 1, &cfg).await.unwrap();
    assert!(second.is_ambiguous, "one round held, a second is allowed");
    let third = classify(&r, "prices?", &[], 2, &cfg).await.unwrap();
    assert!(!third.is_ambiguous && third.clarifying_questions.is_empty());
}

fn five_steps_with_bad_references() -> Value {
    let step = |id: &str, title: &str, step_type: &str, deps: &[&str]| {
        json!({
            "id": id, "title": title, "description": format!("Find {title}"),
            "step_type": step_type, "needs_search": step_type == "research", "depends_on": deps
        })
    };
    json!({
        "title": "EV battery supply chains",
        "thought": "Entity by entity, then compare.",
        "steps": [
            step("step-1", "China", "research", &["step-3"]),
            step("step-2", "Korea", "research", &["step-2", "step-1", "nope"]),
            step("step-2", "Japan", "research", &["step-2"]),
            step("step-4", "Compare", "analysis", &["step-1", "step-2", "step-4"]),
            step("step-5", "Extra", "research", &[]),
        ]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn planner_clamps_to_the_depths_maximum_and_fixes_bad_references() {
    let (fake, r) = world().await;
    fake.script("ep-analytical", vec![say(five_steps_with_bad_references())]);
    let light = ResearchTypes::default().light; // 1 to 3 steps
    let p = plan(&r, "EV batteries", "", &light, None).await.unwrap();

    assert_eq!(p.iteration, 1);
    let ids: Vec<_> = p.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        ["step-1", "step-2", "step-3"],
        "unique, in order, cut to 3"
    );
    let titles: Vec<_> = p.steps.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(titles, ["China", "Korea", "Japan"]);
    assert!(
        p.steps[0].depends_on.is_empty(),
        "a forward reference is dropped"
    );
    assert_eq!(
        p.steps[1].depends_on,
        ["step-1"],
        "self and unknown dropped"
    );
    assert_eq!(
        p.steps[2].depends_on,
        ["step-2"],
        "a duplicate id names its first step"
    );
    assert_eq!(p.steps[2].step_type, StepType::Research);

    let event = serde_json::to_value(p.to_event()).unwrap();
    assert_eq!(event["eventType"], "plan_created");
    assert_eq!(event["planId"], json!(p.id));
    assert_eq!(event["steps"][2]["stepType"], "research");
    assert_eq!(event["steps"][2]["needsSearch"], true);
    assert_eq!(fake.calls_to("ep-analytical").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn planner_system_prompt_states_the_depths_limits_and_guidance() {
    let (fake, r) = world().await;
    fake.script("ep-analytical", vec![say(five_steps_with_bad_references())]);
    let extended = ResearchTypes::default().extended;
    let p = plan(&r, "EV batteries", "", &extended, None).await.unwrap();
    assert_eq!(p.steps.len(), 5, "within 5..=10: kept");

    let system = message(&fake.calls_to("ep-analytical")[0], 0);
    assert!(system.contains("between 5 and 10 steps"), "{system}");
    assert!(system.contains(&extended.steps.prompt_guidance), "{system}");
}

#[tokio::test(flavor = "multi_thread")]
async fn replanning_sends_the_previous_plan_and_the_feedback() {
    let (fake, r) = world().await;
    fake.always("ep-analytical", say(five_steps_with_bad_references()));
    let medium = ResearchTypes::default().medium;
    let first = plan(
        &r,
        "EV batteries",
        "Background: prices fell.",
        &medium,
        None,
    )
    .await
    .unwrap();
    let feedback = "Cover recycling capacity in Europe";
    let second = plan(&r, "EV batteries", "", &medium, Some((&first, feedback)))
        .await
        .unwrap();

    assert_eq!(second.iteration, 2);
    assert_ne!(second.id, first.id);
    let calls = fake.calls_to("ep-analytical");
    assert!(message(&calls[0], 1).contains("Background: prices fell."));
    let replan = message(&calls[1], 1);
    assert!(replan.contains(feedback), "{replan}");
    assert!(
        replan.contains("Korea"),
        "the previous steps are shown: {replan}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reflector_adjust_becomes_a_reflection_decision_event() {
    let (fake, r) = world().await;
    fake.script(
        "ep-simple",
        vec![say(json!({
            "reasoning": "Europe is not covered.",
            "decision": "adjust",
            "suggested_changes": ["Add a step on European recycling"]
        }))],
    );
    let p = Plan::fallback("EV batteries", 1);
    let done = [CompletedStep {
        step: &p.steps[0],
        summary: "Found Chinese and Korean sources.",
    }];
    let reflection = reflect(&r, "EV batteries", &p, &done, &[], 1)
        .await
        .unwrap();
    assert_eq!(reflection.decision, Decision::Adjust);

    let event = serde_json::to_value(reflection.to_event()).unwrap();
    assert_eq!(
        event,
        json!({
            "eventType": "reflection_decision",
            "decision": "adjust",
            "reasoning": "Europe is not covered.",
            "suggestedChanges": ["Add a step on European recycling"]
        })
    );
    let user = message(&fake.calls_to("ep-simple")[0], 1);
    assert!(user.contains("Found Chinese and Korean sources."), "{user}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reflector_cannot_complete_before_the_depths_minimum() {
    let (fake, r) = world().await;
    fake.script(
        "ep-simple",
        vec![say(json!({"reasoning": "Enough.", "decision": "complete"}))],
    );
    let p = Plan::fallback("q", 1);
    let remaining = p.steps.clone();
    let reflection = reflect(&r, "q", &p, &[], &remaining, 3).await.unwrap();
    assert_eq!(reflection.decision, Decision::Continue);
    let event = serde_json::to_value(reflection.to_event()).unwrap();
    assert_eq!(event["decision"], "continue");
    assert_eq!(event["suggestedChanges"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_twice_is_a_typed_error_not_a_panic() {
    let (fake, r) = world().await;
    fake.script(
        "ep-analytical",
        vec![
            Reply::Text("I'd be happy to help plan this!".into()),
            Reply::Text(r#"{"title": 7, "steps": []}"#.into()),
        ],
    );
    let err = plan(&r, "q", "", &ResearchTypes::default().light, None)
        .await
        .unwrap_err();
    assert_eq!(err.agent(), Agent::Planner);
    assert!(
        matches!(
            err,
            AgentError::Llm {
                source: LlmError::StructuredOutput { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with("planner agent:"), "{err}");
    assert_eq!(
        fake.calls_to("ep-analytical").len(),
        2,
        "one re-ask, then give up"
    );

    fake.script(
        "ep-simple",
        vec![Reply::Text("{{{".into()), Reply::Text("".into())],
    );
    let err = classify(&r, "q", &[], 0, &CoordinatorAgent::default())
        .await
        .unwrap_err();
    assert_eq!(err.agent(), Agent::Coordinator);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_uses_the_default_tier_when_its_own_is_not_configured() {
    let fake = FakeLlm::start().await;
    let r = router(&config(&fake, &["analytical"]));
    fake.script(
        "ep-analytical",
        vec![say(json!({"reasoning": "ok", "decision": "continue"}))],
    );
    let p = Plan::fallback("q", 1);
    let remaining = p.steps.clone();
    let reflection = reflect(&r, "q", &p, &[], &remaining, 1).await.unwrap();
    assert_eq!(reflection.decision, Decision::Continue);
    assert_eq!(fake.calls_to("ep-analytical").len(), 1);
}
