//! How a run is scheduled and stopped: independent plan steps in parallel, cancellation,
//! and token and time budgets, each ending in a report marked partial.

use std::time::Duration;

use crate::support::llm::Reply;
use crate::support::world::{last_user_message, researcher, say, step_id, OnEvent, World};
use dra::events::sink::EventSink;
use dra::research::agents::QueryMode;
use dra::research::budget::{Budget, StopReason};
use dra::research::config::{Depth, ResearcherMode};
use dra::research::run::{Outcome, ResearchReport, RunRequest};
use serde_json::{json, Value};

/// A world whose planner plans `steps`, whose researcher answers any step and whose
/// reflector always says continue.
async fn world(steps: Value) -> World {
    let mut w = World::start().await;
    for profile in [
        &mut w.config.research_types.light,
        &mut w.config.research_types.medium,
    ] {
        profile.researcher.mode = ResearcherMode::Classic;
    }
    w.llm.script(
        "ep-analytical",
        vec![say(
            json!({"title": "Plan", "thought": "t", "steps": steps}),
        )],
    );
    w.llm.respond("ep-analytical", researcher);
    w.llm.always(
        "ep-simple",
        say(json!({"decision": "continue", "reasoning": "More to learn."})),
    );
    w.llm.always(
        "ep-complex",
        Reply::Stream(vec!["# Report\n\nSynthesized from the notes [1].".into()]),
    );
    w
}

fn step(id: &str, depends_on: &[&str]) -> Value {
    json!({"id": id, "title": format!("Step {id}"), "description": "d", "step_type": "research", "needs_search": true, "depends_on": depends_on})
}

fn request(depth: Depth) -> RunRequest {
    RunRequest {
        mode: Some(QueryMode::DeepResearch),
        depth,
        ..RunRequest::new("How do river deltas change?")
    }
}

/// Position of the first event of `kind` about step `id`.
fn position(events: &[Value], kind: &str, id: &str) -> usize {
    events
        .iter()
        .position(|e| e["eventType"] == kind && e["payload"]["stepId"] == id)
        .unwrap_or_else(|| panic!("no {kind} for step {id}"))
}

fn report(
    outcome: Result<Outcome, dra::research::run::RunError>,
    events: &[Value],
) -> ResearchReport {
    match outcome {
        Ok(Outcome::Report(r)) => *r,
        other => panic!("expected a report, got {other:?}\n{events:#?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn independent_steps_run_together_and_dependent_ones_wait() {
    let w = world(json!([
        step("step-1", &[]),
        step("step-2", &[]),
        step("step-3", &["step-1"])
    ]))
    .await;
    w.llm.latency("ep-analytical", Duration::from_millis(300));
    let (outcome, events) = w.run(&request(Depth::Medium)).await;
    let r = report(outcome, &events);
    assert_eq!(r.steps_executed, 3);
    assert!(r.partial.is_none());

    // a and b start before either finishes; c waits for a.
    let first_done = events
        .iter()
        .position(|e| e["eventType"] == "step_completed")
        .unwrap();
    assert!(position(&events, "step_started", "step-2") < first_done);
    assert!(
        position(&events, "step_started", "step-3") > position(&events, "step_completed", "step-1")
    );

    // On the model server: b's first call arrives before a's last one.
    let calls = w.llm.calls_to("ep-analytical");
    let of = |id: &str| -> Vec<std::time::Instant> {
        calls
            .iter()
            .filter(|c| step_id(&c.body).as_deref() == Some(id))
            .map(|c| c.at)
            .collect()
    };
    let (a, b) = (of("step-1"), of("step-2"));
    assert_eq!(
        (a.len(), b.len()),
        (2, 2),
        "queries and observation per step"
    );
    assert!(b[0] < a[1], "step b waited for step a");
    let indexes: Vec<u64> = events
        .iter()
        .filter(|e| e["eventType"] == "step_started")
        .map(|e| e["payload"]["stepIndex"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn light_runs_keep_one_step_at_a_time_with_a_reflection_between() {
    let w = world(json!([step("step-1", &[]), step("step-2", &[])])).await;
    let (outcome, events) = w.run(&request(Depth::Light)).await;
    assert_eq!(report(outcome, &events).steps_executed, 2);
    let reflected = events
        .iter()
        .position(|e| e["eventType"] == "reflection_decision")
        .unwrap();
    assert!(position(&events, "step_completed", "step-1") < reflected);
    assert!(reflected < position(&events, "step_started", "step-2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_returns_the_notes_so_far_as_a_partial_report_without_waiting() {
    let w = world(json!([
        step("step-1", &[]),
        step("step-2", &[]),
        step("step-3", &[])
    ]))
    .await;
    // The reflection that follows step a would take a minute.
    w.llm.always(
        "ep-simple",
        Reply::Delayed(
            Duration::from_secs(60),
            Box::new(say(json!({"decision": "continue", "reasoning": "r"}))),
        ),
    );
    let req = request(Depth::Light);
    let cancel = req.cancel.clone();
    let on_done = OnEvent(move |e: &dra::events::EventEnvelope| {
        if serde_json::to_value(e).unwrap()["eventType"] == "step_completed" {
            cancel.cancel();
        }
    });
    let run = w.run_with(&req, vec![Box::new(on_done) as Box<dyn EventSink>]);
    let (outcome, events) = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("a cancelled run ends without waiting for the slow reflection");
    let r = report(outcome, &events);
    assert_eq!(r.partial, Some(StopReason::Cancelled));
    assert_eq!((r.steps_executed, r.steps_skipped), (1, 2));
    assert!(r.markdown.contains("**Partial report.**"), "{}", r.markdown);
    assert!(
        r.markdown.contains("Notes on step step-1 [1]."),
        "{}",
        r.markdown
    );
    assert!(
        r.markdown.contains("## References\n\n1. "),
        "{}",
        r.markdown
    );
    assert!(
        w.llm.calls_to("ep-complex").is_empty(),
        "no synthesis after a cancel"
    );
    // As the original ends a cancelled run: no error, no completion; the caller says how
    // it ended (exit 130, a cancelled job).
    assert!(
        !events
            .iter()
            .any(|e| e["eventType"] == "error" || e["eventType"] == "research_completed"),
        "{events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_token_budget_stops_research_and_the_report_says_so() {
    let w = world(json!([
        step("step-1", &[]),
        step("step-2", &[]),
        step("step-3", &[])
    ]))
    .await;
    // Every scripted answer costs 18 tokens; the light report keeps 4000 back. Planner,
    // step a (two calls) and the reflection make 72: over the budget, so b never starts.
    let req = RunRequest {
        budget: Budget {
            max_tokens: Some(4_060),
            timeout: None,
        },
        ..request(Depth::Light)
    };
    let (outcome, events) = w.run(&req).await;
    let r = report(outcome, &events);
    assert_eq!(
        r.partial,
        Some(StopReason::Tokens {
            used: 72,
            limit: 4_060
        })
    );
    assert_eq!((r.steps_executed, r.steps_skipped), (1, 2));
    assert_eq!(
        w.llm.calls_to("ep-complex").len(),
        1,
        "the report is still written"
    );
    assert!(
        r.markdown.starts_with(
            "> **Partial report.** Research stopped early: the token budget was reached"
        ),
        "{}",
        r.markdown
    );
    assert!(r.markdown.contains("Synthesized from the notes [1]."));
    let codes: Vec<&str> = events
        .iter()
        .filter(|e| e["eventType"] == "error")
        .map(|e| e["payload"]["errorCode"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["TOKEN_BUDGET_REACHED"]);
    let last = events.last().unwrap();
    assert_eq!(last["eventType"], "research_completed");
    assert_eq!(last["payload"]["finalReport"], r.markdown.as_str());
    assert!(!events
        .iter()
        .any(|e| e["eventType"] == "step_started" && e["payload"]["stepId"] == "step-2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_time_budget_ends_with_the_notes_when_the_report_cannot_finish_in_time() {
    let w = world(json!([
        step("step-1", &[]),
        step("step-2", &[]),
        step("step-3", &[])
    ]))
    .await;
    // Research stops at 80% of 6 s: planner (1 s) and step a (2 s) finish, b cannot. The
    // synthesizer would need 60 s, so the notes are returned at 6 s.
    w.llm.latency("ep-analytical", Duration::from_secs(1));
    w.llm.latency("ep-complex", Duration::from_secs(60));
    let req = RunRequest {
        budget: Budget {
            max_tokens: None,
            timeout: Some(Duration::from_secs(6)),
        },
        ..request(Depth::Light)
    };
    let (outcome, events) = tokio::time::timeout(Duration::from_secs(30), w.run(&req))
        .await
        .expect("the time budget ends the run");
    let r = report(outcome, &events);
    assert_eq!(
        r.partial,
        Some(StopReason::Time {
            limit: Duration::from_secs(6)
        })
    );
    assert_eq!(r.steps_executed, 1);
    assert!(
        r.markdown.contains("no synthesized report was written"),
        "{}",
        r.markdown
    );
    assert!(r.markdown.contains("Notes on step step-1 [1]."));
    let codes: Vec<&str> = events
        .iter()
        .filter(|e| e["eventType"] == "error")
        .map(|e| e["payload"]["errorCode"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["TIME_BUDGET_REACHED", "TIME_BUDGET_REACHED"]);
    assert_eq!(events.last().unwrap()["eventType"], "research_completed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_cancelled_before_any_step_is_a_typed_error() {
    let w = world(json!([step("step-1", &[])])).await;
    let req = request(Depth::Light);
    req.cancel.cancel();
    let (outcome, events) = w.run(&req).await;
    assert!(
        matches!(
            outcome,
            Err(dra::research::run::RunError::Stopped(StopReason::Cancelled))
        ),
        "{outcome:?}"
    );
    assert!(
        !events.iter().any(|e| e["eventType"] == "error"),
        "a cancel is not an error: {events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_adjusting_reflection_replaces_the_rest_of_the_plan() {
    let w = world(json!([
        step("step-1", &[]),
        step("step-2", &[]),
        step("step-3", &[])
    ]))
    .await;
    // After step 1 the reflector asks for a new direction; the revision has two new steps.
    w.llm.script(
        "ep-simple",
        vec![say(
            json!({"decision": "adjust", "reasoning": "Look at sediment instead.", "suggested_changes": ["sediment supply"]}),
        )],
    );
    w.llm.respond("ep-analytical", |body| {
        if step_id(body).is_some() {
            researcher(body)
        } else {
            say(json!({"title": "Revised", "thought": "t", "steps": [
                {"id": "x", "title": "Sediment supply", "description": "d", "step_type": "research", "needs_search": true},
                {"id": "y", "title": "Dams", "description": "d", "step_type": "research", "needs_search": true}
            ]}))
        }
    });
    let (outcome, events) = w.run(&request(Depth::Light)).await;
    let r = report(outcome, &events);
    assert_eq!(r.plan_iterations, 2);
    assert_eq!(r.plan.title, "Revised");
    let titles: Vec<&str> = events
        .iter()
        .filter(|e| e["eventType"] == "step_started")
        .map(|e| e["payload"]["stepTitle"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Step step-1", "Sediment supply", "Dams"]);
    let plans = events
        .iter()
        .filter(|e| e["eventType"] == "plan_created")
        .count();
    assert_eq!(plans, 2);
    let revision = w
        .llm
        .calls_to("ep-analytical")
        .into_iter()
        .filter(|c| step_id(&c.body).is_none())
        .nth(1)
        .expect("a second planner call");
    assert!(
        revision
            .body
            .to_string()
            .contains("Look at sediment instead."),
        "the planner saw the reflector's feedback"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_sharing_a_router_each_count_and_budget_only_their_own_tokens() {
    const A: &str = "How do river deltas change?";
    const B: &str = "Why do glaciers retreat?";
    let about = |body: &Value, query: &str| body.to_string().contains(query);
    let mut w = World::start().await;
    w.config.research_types.light.researcher.mode = ResearcherMode::Classic;
    w.config.research_types.medium.researcher.mode = ResearcherMode::Classic;
    // A plans three steps and its every answer takes 300 ms; B plans four and answers at
    // once, so B spends all its tokens while A is still on its first step.
    let slow_for_a = move |body: &Value, reply: Reply| match about(body, A) {
        true => Reply::Delayed(Duration::from_millis(300), Box::new(reply)),
        false => reply,
    };
    w.llm.respond("ep-analytical", move |body| {
        let reply = match (step_id(body), about(body, A)) {
            (Some(_), _) => researcher(body),
            (None, true) => say(json!({"title": "A", "thought": "t", "steps": [
                step("step-1", &[]), step("step-2", &[]), step("step-3", &[])
            ]})),
            (None, false) => say(json!({"title": "B", "thought": "t", "steps": [
                step("step-1", &[]), step("step-2", &[]), step("step-3", &[]), step("step-4", &[])
            ]})),
        };
        slow_for_a(body, reply)
    });
    w.llm.respond("ep-simple", move |body| {
        slow_for_a(
            body,
            say(json!({"decision": "continue", "reasoning": "More to learn."})),
        )
    });
    w.llm.always(
        "ep-complex",
        Reply::Stream(vec!["# Report\n\nSynthesized from the notes [1].".into()]),
    );
    let budgeted = RunRequest {
        budget: Budget {
            max_tokens: Some(4_060),
            timeout: None,
        },
        ..RunRequest {
            query: A.into(),
            ..request(Depth::Light)
        }
    };
    let unbudgeted = RunRequest {
        query: B.into(),
        ..request(Depth::Medium)
    };

    let router = w.router();
    let ((a, a_events), (b, b_events)) = tokio::join!(
        w.run_on(&router, &budgeted, Vec::new()),
        w.run_on(&router, &unbudgeted, Vec::new())
    );
    let (a, b) = (report(a, &a_events), report(b, &b_events));

    // A stops on its own spending, exactly as when it runs alone: planner, step 1's two
    // calls and the reflection make 72, and with the report's 4000 kept back that is over.
    assert_eq!(
        a.partial,
        Some(StopReason::Tokens {
            used: 72,
            limit: 4_060
        })
    );
    assert_eq!((a.steps_executed, a.steps_skipped), (1, 2));
    assert_eq!((b.partial, b.steps_executed), (None, 4));

    // B really spent in the meantime: more than A's budget leaves for research, all of it
    // before A's reflection, the call that tipped A over.
    let calls = w.llm.calls();
    let (a_calls, b_calls): (Vec<_>, Vec<_>) = calls.iter().partition(|c| about(&c.body, A));
    assert!(
        b_calls.iter().all(|c| about(&c.body, B)),
        "every model call belongs to one run"
    );
    assert!(b.tokens_used > 4_060 - 4_000, "{}", b.tokens_used);
    let a_reflection = a_calls
        .iter()
        .find(|c| c.model == "ep-simple")
        .expect("A reflected");
    assert!(b_calls.iter().all(|c| c.at < a_reflection.at));

    // Each run's count is the fake's count of that run's calls; the ledger has both.
    let tokens = |calls: &[&crate::support::llm::Call]| calls.iter().map(|c| c.tokens).sum::<u64>();
    assert_eq!(a.tokens_used, tokens(&a_calls));
    assert_eq!(b.tokens_used, tokens(&b_calls));
    assert_eq!(router.tokens_used(), a.tokens_used + b.tokens_used);
}

#[tokio::test(flavor = "multi_thread")]
async fn verification_counts_only_its_own_tokens_while_another_run_spends() {
    const A: &str = "How do river deltas change?";
    const B: &str = "Why do glaciers retreat?";
    let about = |body: &Value, query: &str| body.to_string().contains(query);
    let verifying = |body: &Value| last_user_message(body).contains("## Claim\n");
    let mut w = World::start().await;
    w.config.research_types.light.researcher.mode = ResearcherMode::Classic;
    w.config.research_types.medium.researcher.mode = ResearcherMode::Classic;
    // A (verified) answers at once except its verification, which takes 300 ms; B answers
    // every call after 100 ms, so B's calls finish while A's claims are being verified.
    let answer = move |body: &Value, reply: Reply| {
        if verifying(body) {
            let verdict = say(json!({"verdict": "supported", "reasoning": "In the evidence."}));
            return Reply::Delayed(Duration::from_millis(300), Box::new(verdict));
        }
        match about(body, B) {
            true => Reply::Delayed(Duration::from_millis(100), Box::new(reply)),
            false => reply,
        }
    };
    w.llm.respond("ep-analytical", move |body| {
        let reply = match (step_id(body), about(body, A)) {
            (Some(_), _) => researcher(body),
            (None, true) => {
                say(json!({"title": "A", "thought": "t", "steps": [step("step-1", &[])]}))
            }
            (None, false) => say(json!({"title": "B", "thought": "t", "steps": [
                step("step-1", &[]), step("step-2", &[]), step("step-3", &[]), step("step-4", &[])
            ]})),
        };
        answer(body, reply)
    });
    w.llm.respond("ep-simple", move |body| {
        answer(
            body,
            say(json!({"decision": "continue", "reasoning": "More to learn."})),
        )
    });
    w.llm.respond("ep-complex", move |body| {
        let text = match about(body, A) {
            true => "# Report\n\nDeltas lost a fifth of their wetlands [1].",
            false => "# Report\n\nSynthesized from the notes [1].",
        };
        answer(body, Reply::Stream(vec![text.into()]))
    });
    let verified = RunRequest {
        query: A.into(),
        verify: Some(true),
        ..request(Depth::Light)
    };
    let unverified = RunRequest {
        query: B.into(),
        verify: Some(false),
        ..request(Depth::Medium)
    };

    let router = w.router();
    let ((a, a_events), (b, b_events)) = tokio::join!(
        w.run_on(&router, &verified, Vec::new()),
        w.run_on(&router, &unverified, Vec::new())
    );
    let (a, b) = (report(a, &a_events), report(b, &b_events));
    let v = a.verification.expect("A was verified");
    assert!(b.verification.is_none());

    let calls = w.llm.calls();
    let checks: Vec<_> = calls.iter().filter(|c| verifying(&c.body)).collect();
    assert!(!checks.is_empty(), "a claim was checked by the model");
    assert_eq!(u64::from(v.model_calls), checks.len() as u64);
    let first_check = checks.iter().map(|c| c.at).min().unwrap();
    assert!(
        calls
            .iter()
            .any(|c| about(&c.body, B) && c.at > first_check),
        "B was still calling the model while A's claims were verified"
    );
    let n = checks.len() as u64;
    assert_eq!((v.prompt_tokens, v.completion_tokens), (11 * n, 7 * n));
    let (b_calls, a_calls): (Vec<_>, Vec<_>) = calls.iter().partition(|c| about(&c.body, B));
    let tokens = |calls: &[&crate::support::llm::Call]| calls.iter().map(|c| c.tokens).sum::<u64>();
    assert_eq!(a.tokens_used, tokens(&a_calls));
    assert_eq!(b.tokens_used, tokens(&b_calls));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_depth_without_a_mode_means_deep_research_even_when_the_coordinator_says_simple() {
    let w = world(json!([step("step-1", &[])])).await;
    coordinator_says_simple(&w);
    let req = RunRequest {
        mode: None,
        depth: Depth::Light,
        ..RunRequest::new("How do river deltas change?")
    };
    let (outcome, events) = w.run(&req).await;
    let report = report(outcome, &events);
    assert!(report.markdown.contains("Synthesized from the notes"));
    assert!(events.iter().any(|e| e["eventType"] == "plan_created"));
    assert_eq!(events.last().unwrap()["eventType"], "research_completed");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_neither_mode_nor_depth_the_coordinator_may_answer_directly() {
    let w = world(json!([step("step-1", &[])])).await;
    coordinator_says_simple(&w);
    let req = RunRequest {
        mode: None,
        depth: Depth::Auto,
        ..RunRequest::new("How do river deltas change?")
    };
    let (outcome, _) = w.run(&req).await;
    assert!(
        matches!(&outcome, Ok(Outcome::Answer { text }) if text == "About a fifth."),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_inside_a_stage_ends_the_run_with_an_internal_error_not_an_unwind() {
    let mut w = world(json!([step("step-1", &[])])).await;
    w.search = std::sync::Arc::new(crate::support::search::PanickingSearch);
    let (outcome, events) = w.run(&request(Depth::Light)).await;
    match outcome {
        Err(dra::research::run::RunError::Panicked(message)) => {
            assert!(message.contains("not a char boundary"), "{message}")
        }
        other => panic!("expected a panicked run, got {other:?}"),
    }
    let last = events.last().unwrap();
    assert_eq!(last["eventType"], "error");
    assert_eq!(last["payload"]["errorCode"], "INTERNAL_ERROR");
    assert_eq!(last["payload"]["recoverable"], false);
    assert!(!events
        .iter()
        .any(|e| e["eventType"] == "research_completed"));
}

/// The coordinator's first answer: a simple question, answered directly.
fn coordinator_says_simple(w: &World) {
    w.llm.script(
        "ep-simple",
        vec![say(json!({
            "mode": "simple", "depth": "light", "direct_answer": "About a fifth.",
            "reasoning": "looks simple", "is_ambiguous": false
        }))],
    );
}
