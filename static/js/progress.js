// Live progress of a research run: the job's events (src/research/event.rs) folded into
// one state, and that state drawn into the progress card.

const AGENTS = {
  coordinator: "Understanding the question",
  background_investigator: "Looking around the topic",
  planner: "Planning",
  researcher: "Researching",
  reflector: "Reflecting on what was found",
  synthesizer: "Writing the report",
};

export function emptyProgress() {
  return {
    activity: "Starting…",
    steps: [],
    searches: [],
    sources: 0,
    reflections: [],
    verdicts: { supported: 0, partial: 0, unsupported: 0, contradicted: 0 },
    summary: null,
    draft: "",
    error: null,
    messageId: null,
    started: false,
  };
}

/** Folds one event envelope into `state` (mutates and returns it). */
export function applyEvent(state, envelope) {
  const type = envelope.eventType;
  const p = envelope.payload ?? {};
  switch (type) {
    case "research_started": {
      // A second start is the same job begun again by another server after the one running
      // it stopped: what the first attempt showed (steps, draft, counts) no longer holds.
      const messageId = p.messageId ?? state.messageId;
      if (state.started) {
        Object.assign(state, emptyProgress(), {
          activity: "Restarted: the server running this research stopped, so it began again",
        });
      } else {
        state.activity = "Started";
      }
      state.started = true;
      state.messageId = messageId;
      break;
    }
    case "agent_started":
      state.activity = AGENTS[p.agent] ?? p.agent ?? state.activity;
      break;
    case "plan_created": {
      const previous = new Map(state.steps.map((s) => [s.id, s.state]));
      state.steps = (p.steps ?? []).map((s) => ({
        id: s.id,
        title: s.title,
        state: previous.get(s.id) === "completed" ? "completed" : "pending",
      }));
      state.activity = `Plan${p.iteration > 1 ? ` (revision ${p.iteration})` : ""}: ${p.title ?? ""}`;
      break;
    }
    case "step_started":
    case "step_completed": {
      const step =
        state.steps.find((s) => s.id === p.stepId) ?? state.steps[Number(p.stepIndex)];
      if (step) step.state = type === "step_started" ? "running" : "completed";
      if (type === "step_started") state.activity = `Researching: ${p.stepTitle ?? step?.title ?? ""}`;
      if (type === "step_completed" && Number.isFinite(p.sourcesFound)) {
        state.sources = Math.max(state.sources, p.sourcesFound);
      }
      break;
    }
    case "tool_call":
      if (p.toolName === "web_search" && p.toolArgs?.query) state.searches.push(p.toolArgs.query);
      break;
    case "tool_result":
      if (Number.isFinite(p.sourcesCrawled)) state.sources = Math.max(state.sources, p.sourcesCrawled);
      break;
    case "reflection_decision":
      state.reflections.push(p.decision);
      break;
    case "synthesis_started":
      state.activity = "Writing the report";
      if (Number.isFinite(p.totalSources)) state.sources = Math.max(state.sources, p.totalSources);
      break;
    case "synthesis_progress":
      state.draft += p.contentChunk ?? "";
      break;
    case "claim_verified":
      if (p.verdict in state.verdicts) state.verdicts[p.verdict] += 1;
      state.activity = "Checking each claim against its sources";
      break;
    case "verification_summary":
      state.summary = p;
      break;
    case "research_completed":
      state.activity = "Done";
      if (p.finalReport) state.draft = p.finalReport;
      break;
    case "error":
      state.error = p.errorMessage ?? "The research failed.";
      break;
    default:
      break;
  }
  return state;
}

/** Draws `state` into the progress card's elements. */
export function renderProgress(state, el) {
  el.activity.textContent = state.activity;
  el.steps.replaceChildren(
    ...state.steps.map((s) => {
      const li = document.createElement("li");
      li.dataset.state = s.state;
      li.dataset.stepId = s.id;
      li.textContent = s.title;
      const badge = document.createElement("span");
      badge.className = "step-state badge";
      badge.textContent = { pending: "pending", running: "running", completed: "done" }[s.state];
      li.append(badge);
      return li;
    }),
  );
  el.searches.textContent = String(state.searches.length);
  el.searchList.replaceChildren(
    ...state.searches.map((q) => {
      const li = document.createElement("li");
      li.textContent = q;
      return li;
    }),
  );
  el.sources.textContent = String(state.sources);
  el.reflections.textContent = state.reflections.length ? state.reflections.join(", ") : "–";
  const v = state.summary
    ? {
        supported: state.summary.supported,
        partial: state.summary.partial,
        unsupported: state.summary.unsupported,
        contradicted: state.summary.contradicted,
      }
    : state.verdicts;
  const checked = v.supported + v.partial + v.unsupported + v.contradicted;
  el.verified.textContent = checked
    ? `${v.supported}/${checked} supported${v.partial ? `, ${v.partial} partial` : ""}`
    : "–";
}
