//! The step loop: plan steps researched (in parallel where the depth allows), reflected
//! on, and the plan revised, until it is done or the budget stops it.

use super::*;

/// The plan-step loop: runs ready steps (one at a time, or up to `max_parallel` whose
/// dependencies are done), reflects after each, applies ADJUST and COMPLETE, and stops
/// when the plan is done, the depth's step limit is reached, or the [`Watch`] says stop.
pub(super) struct StepLoop<'r, 'a> {
    pub(super) req: &'r RunRequest,
    pub(super) s: &'r Services<'a>,
    pub(super) bus: &'r Arc<EventBus>,
    pub(super) watch: &'r Watch,
    pub(super) mode: QueryMode,
    pub(super) profile: &'r ResearchProfile,
    pub(super) limits: &'r ProfileResearcher,
    pub(super) max_parallel: usize,
}

/// What the step loop gathered.
pub(super) struct Gathered {
    pub(super) plan: Plan,
    /// Finished steps with their observations, in completion order.
    pub(super) done: Vec<(PlanStep, String)>,
    pub(super) sources: SourceRegistry,
    pub(super) executed: u32,
    pub(super) skipped: u32,
    pub(super) failed: u32,
    pub(super) iterations: u32,
    pub(super) dropped: usize,
    pub(super) repointed: usize,
    pub(super) stopped: Option<StopReason>,
}

pub(super) type StepResult = (u32, PlanStep, Result<StepOutcome, AgentError>);
pub(super) type ReflectResult = (
    Result<Reflection, AgentError>,
    Option<Result<Plan, AgentError>>,
);

impl StepLoop<'_, '_> {
    pub(super) async fn run(&self, plan: Plan) -> Gathered {
        let sources = SourceRegistry::default();
        let mut g = Gathered {
            plan,
            done: Vec::new(),
            sources: SourceRegistry::default(),
            executed: 0,
            skipped: 0,
            failed: 0,
            iterations: 1,
            dropped: 0,
            repointed: 0,
            stopped: None,
        };
        let mut queue: VecDeque<PlanStep> = g.plan.steps.iter().cloned().collect();
        let mut started = 0u32;
        let mut in_flight: FuturesUnordered<BoxFuture<'_, StepResult>> = FuturesUnordered::new();
        let mut running: Vec<String> = Vec::new();
        let mut reflecting: Option<BoxFuture<'_, ReflectResult>> = None;
        let mut reflect_due = false;
        loop {
            // Checked before anything new starts, so a spent budget starts nothing.
            let mut stop_now = match g.stopped {
                None => self.watch.research_stop(),
                Some(_) => None,
            };
            if stop_now.is_some() {
                reflect_due = false;
            }
            if reflect_due && reflecting.is_none() {
                reflect_due = false;
                if !queue.is_empty() && g.stopped.is_none() {
                    reflecting = Some(self.reflect(&g.plan, &g.done, &queue, g.iterations).boxed());
                }
            }
            // Sequential runs wait for each reflection before the next step; parallel runs
            // keep independent steps going while the reflector thinks.
            let may_launch = g.stopped.is_none()
                && stop_now.is_none()
                && (self.max_parallel > 1 || reflecting.is_none());
            while may_launch && in_flight.len() < self.max_parallel {
                if g.executed + in_flight.len() as u32 >= self.profile.steps.max {
                    g.skipped += queue.len() as u32;
                    queue.clear();
                    break;
                }
                let Some(step) = take_ready(&mut queue, &running) else {
                    break;
                };
                self.bus.emit(ResearchEvent::StepStarted {
                    step_index: started,
                    step_id: step.id.clone(),
                    step_title: step.title.clone(),
                    step_type: step.step_type.as_str().into(),
                });
                running.push(step.id.clone());
                in_flight.push(self.step(started, step, &g.done, &sources).boxed());
                started += 1;
            }
            if stop_now.is_none() && in_flight.is_empty() && reflecting.is_none() {
                break;
            }
            if stop_now.is_none() {
                tokio::select! {
                  Some((index, step, result)) = in_flight.next(), if !in_flight.is_empty() => {
                      running.retain(|id| id != &step.id);
                      match result {
                          Ok(outcome) => {
                              self.bus.emit(outcome.to_completed_event(index, &step.id));
                              g.dropped += outcome.audit.dropped;
                              g.repointed += outcome.audit.repointed;
                              g.executed += 1;
                              g.done.push((step, outcome.observation));
                          }
                          Err(e) => {
                              recoverable(self.bus, "STEP_FAILED", &format!("step \"{}\": {e}", step.title));
                              g.failed += 1;
                          }
                      }
                      reflect_due = self.mode != QueryMode::WebSearch;
                  }
                  Some((reflection, revised)) = maybe(&mut reflecting) => {
                      reflecting = None;
                      self.apply(&mut g, &mut queue, &running, reflection, revised);
                  }
                  reason = self.watch.research_stopped(), if g.stopped.is_none() => {
                      stop_now = Some(reason);
                  }
                }
            }
            if let Some(reason) = stop_now {
                // Dropping the in-flight futures cancels their requests.
                let unfinished = (in_flight.len() + queue.len()) as u32;
                g.skipped += unfinished;
                queue.clear();
                in_flight.clear();
                reflecting = None;
                g.stopped = Some(reason);
                announce_stop(
                    self.bus,
                    reason,
                    &format!(
                        "{reason}; research stops after {} finished steps ({unfinished} not finished)",
                        g.executed
                    ),
                );
            }
        }
        // The futures borrow the registry; they are done (or abandoned) now.
        drop(in_flight);
        drop(reflecting);
        g.sources = sources;
        g
    }

    /// One step, between `agent_started`/`agent_completed` of the researcher.
    fn step<'f>(
        &'f self,
        index: u32,
        step: PlanStep,
        done: &[(PlanStep, String)],
        sources: &'f SourceRegistry,
    ) -> impl Future<Output = StepResult> + Send + 'f {
        let previous: Vec<String> = done.iter().map(|(_, o)| o.clone()).collect();
        async move {
            crate::research::fault::point("researcher");
            let ctx = StepContext {
                router: self.s.llm,
                search: self.s.search,
                search_config: &self.s.config.search,
                fetcher: self.s.fetcher,
                tools: self.s.tools,
                sources,
                events: self.bus,
                query: &self.req.query,
                limits: self.limits,
                settings: &self.s.config.agents.researcher,
                previous_observations: &previous,
            };
            let result = timed_in(
                spans::researcher_step(index, &step),
                self.bus,
                self.s.llm,
                Agent::Researcher,
                run_step(&ctx, &step).boxed(),
            )
            .await;
            (index, step, result)
        }
    }

    /// The reflector on the steps so far and, when it asks for an adjustment the plan may
    /// still take, the planner's revision.
    fn reflect<'f>(
        &'f self,
        plan: &Plan,
        done: &[(PlanStep, String)],
        queue: &VecDeque<PlanStep>,
        iterations: u32,
    ) -> impl Future<Output = ReflectResult> + Send + 'f {
        let plan = plan.clone();
        let done = done.to_vec();
        let remaining: Vec<PlanStep> = queue.iter().cloned().collect();
        async move {
            let completed: Vec<CompletedStep<'_>> = done
                .iter()
                .map(|(step, summary)| CompletedStep { step, summary })
                .collect();
            let reflection = timed(
                self.bus,
                self.s.llm,
                Agent::Reflector,
                reflect(
                    self.s.llm,
                    &self.req.query,
                    &plan,
                    &completed,
                    &remaining,
                    self.profile.steps.min,
                )
                .boxed(),
            )
            .await;
            let reflection = match reflection {
                Ok(r) => r,
                Err(e) => return (Err(e), None),
            };
            self.bus.emit(reflection.to_event());
            let max_iterations = self.s.config.agents.planner.max_plan_iterations;
            if reflection.decision != Decision::Adjust || iterations >= max_iterations {
                return (Ok(reflection), None);
            }
            let feedback = std::iter::once(reflection.reasoning.clone())
                .chain(reflection.suggested_changes.iter().cloned())
                .collect::<Vec<_>>()
                .join("\n");
            let revised = timed(
                self.bus,
                self.s.llm,
                Agent::Planner,
                plan_in_conversation(
                    self.s.llm,
                    &self.req.query,
                    &self.req.history,
                    &crate::research::agents::planner::private_sources_note(self.s.tools),
                    self.profile,
                    Some((&plan, &feedback)),
                )
                .boxed(),
            )
            .await;
            (Ok(reflection), Some(revised))
        }
    }

    /// Act on a reflection: COMPLETE skips what is left, an ADJUST's revised plan replaces
    /// it (minus steps already running).
    fn apply(
        &self,
        g: &mut Gathered,
        queue: &mut VecDeque<PlanStep>,
        running: &[String],
        reflection: Result<Reflection, AgentError>,
        revised: Option<Result<Plan, AgentError>>,
    ) {
        let reflection = match reflection {
            Ok(r) => r,
            Err(e) => {
                // Without a verdict, carry on with the plan as it stands.
                recoverable(self.bus, "REFLECTOR_FAILED", &e.to_string());
                return;
            }
        };
        match (reflection.decision, revised) {
            (Decision::Complete, _) => {
                g.skipped += queue.len() as u32;
                queue.clear();
            }
            (_, Some(Ok(p))) => {
                g.iterations += 1;
                self.bus.emit(p.to_event());
                let finished: Vec<&str> = g.done.iter().map(|(s, _)| s.title.as_str()).collect();
                *queue = p
                    .steps
                    .iter()
                    .filter(|s| !finished.contains(&s.title.as_str()))
                    .filter(|s| {
                        !(running.contains(&s.id)
                            && g.plan
                                .steps
                                .iter()
                                .any(|o| o.id == s.id && o.title == s.title))
                    })
                    .cloned()
                    .collect();
                g.plan = p;
            }
            (_, Some(Err(e))) => recoverable(self.bus, "PLANNER_FAILED", &e.to_string()),
            (_, None) => {}
        }
    }
}

/// The first queued step whose dependencies are neither queued nor running (a dependency
/// the plan no longer has, or one that failed, does not block).
pub(super) fn take_ready(queue: &mut VecDeque<PlanStep>, running: &[String]) -> Option<PlanStep> {
    let blocked = |step: &PlanStep| {
        step.depends_on
            .iter()
            .any(|d| running.contains(d) || queue.iter().any(|q| &q.id == d && q.id != step.id))
    };
    let at = queue.iter().position(|s| !blocked(s)).or_else(|| {
        // Only a malformed plan (a cycle) blocks every step with nothing running.
        running.is_empty().then_some(0)
    })?;
    queue.remove(at)
}

/// `f`, unless research must stop first (the stop is announced).
// The helpers below take boxed futures: a generic `impl Future` argument holding
// references made rustc unable to prove the whole run `Send` (a known higher-ranked
// lifetime limitation), and `dra serve` spawns runs.
pub(super) async fn or_stop<T>(
    watch: &Watch,
    bus: &EventBus,
    f: BoxFuture<'_, T>,
) -> Result<T, RunError> {
    tokio::select! {
        out = f => Ok(out),
        reason = watch.research_stopped() => {
            announce_stop(bus, reason, &format!("{reason} before any research was done"));
            Err(RunError::Stopped(reason))
        }
    }
}

/// The pending future, or never when there is none (for `select!`).
pub(super) async fn maybe<T>(slot: &mut Option<BoxFuture<'_, T>>) -> Option<T> {
    match slot {
        Some(f) => Some(f.await),
        None => std::future::pending().await,
    }
}
