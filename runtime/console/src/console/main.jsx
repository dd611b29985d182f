// The operator console: actions, handlers, events and live metrics, over the admin APIs.
// Routing is by the URL's fragment (#/events/…), so the server serves one page.
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import "./console.css";
import { CredentialsForm, loadCredentials } from "../shared/credentials.jsx";
import { api } from "./api.js";
import { ActionsPage } from "./actions.jsx";
import { EventsPage } from "./events.jsx";
import { HandlersPage } from "./handlers.jsx";
import { LivePage } from "./live.jsx";
import { ErrorNote, href, useRoute } from "./ui.jsx";

const PAGES = {
  actions: { title: "Actions", component: ActionsPage },
  handlers: { title: "Handlers", component: HandlersPage },
  events: { title: "Events", component: EventsPage },
  live: { title: "Live", component: LivePage },
};

/** Asks an admin API whether the stored credential is an admin's; shows the form until it is. */
function useAdminCheck() {
  const [state, setState] = useState({ status: "checking" });
  const check = async () => {
    try {
      await api.handlers();
      setState({ status: "admin" });
    } catch (error) {
      setState({ status: "denied", error });
    }
  };
  useEffect(() => {
    check();
  }, []);
  return { ...state, check };
}

function Console() {
  const route = useRoute();
  const admin = useAdminCheck();
  const [credentials, setCredentials] = useState(loadCredentials);
  const page = PAGES[route.page] ?? PAGES.actions;
  const Page = page.component;
  useEffect(() => {
    document.title = `${page.title} · Hookwing console`;
  }, [page]);
  return (
    <div className="shell">
      <header className="top">
        <a className="brand" href={href("actions")}>
          Hookwing
        </a>
        <nav>
          {Object.entries(PAGES).map(([key, { title }]) => (
            <a key={key} href={href(key)} className={page === PAGES[key] ? "current" : ""}>
              {title}
            </a>
          ))}
          <a href="/">GraphiQL</a>
        </nav>
      </header>
      <main>
        {admin.status === "checking" && <p className="muted">Connecting…</p>}
        {admin.status === "denied" && (
          <section className="card login" data-testid="login">
            <h1>Sign in as admin</h1>
            <p>The console uses the admin APIs: give the admin secret, or a JWT whose role is admin.</p>
            <ErrorNote error={admin.error} />
            <CredentialsForm
              initial={credentials}
              withRole={false}
              onApply={(saved) => {
                setCredentials(saved);
                admin.check();
              }}
            />
          </section>
        )}
        {admin.status === "admin" && <Page rest={route.rest} query={route.query} />}
      </main>
    </div>
  );
}

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <Console />
  </StrictMode>,
);
