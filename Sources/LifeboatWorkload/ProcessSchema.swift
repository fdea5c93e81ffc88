import LifeboatCore

/// Journal mode of a generated or loaded database. Capture must handle both: WAL (what
/// workflow engines use) and the rollback journal (SQLite's default).
public enum JournalMode: String, Sendable, Codable, CaseIterable {
    case wal
    case delete

    /// The value for `PRAGMA journal_mode`.
    package var pragmaValue: String { self == .wal ? "WAL" : "DELETE" }
}

/// The schema of a BPM engine's process database as the generator, mutator and write load use it.
/// Times are milliseconds since the Unix epoch, as most engines store them.
package enum ProcessSchema {
    package static let createStatements = """
        CREATE TABLE requests (
            id INTEGER PRIMARY KEY,
            process_key TEXT NOT NULL,
            business_key TEXT NOT NULL,
            status TEXT NOT NULL,
            priority INTEGER NOT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            data TEXT NOT NULL
        );
        CREATE UNIQUE INDEX requests_business_key ON requests(business_key);
        CREATE INDEX requests_status_updated ON requests(status, updated_at);
        CREATE INDEX requests_process_created ON requests(process_key, created_at);

        CREATE TABLE tasks (
            id INTEGER PRIMARY KEY,
            request_id INTEGER NOT NULL REFERENCES requests(id),
            name TEXT NOT NULL,
            candidate_group TEXT NOT NULL,
            assignee TEXT,
            state TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            due_at INTEGER,
            completed_at INTEGER,
            outcome TEXT
        );
        CREATE INDEX tasks_request ON tasks(request_id);
        CREATE INDEX tasks_assignee_state ON tasks(assignee, state);
        CREATE INDEX tasks_state_due ON tasks(state, due_at);

        CREATE TABLE comments (
            id INTEGER PRIMARY KEY,
            request_id INTEGER NOT NULL REFERENCES requests(id),
            task_id INTEGER,
            author TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX comments_request_created ON comments(request_id, created_at);

        CREATE TABLE attachments (
            id INTEGER PRIMARY KEY,
            request_id INTEGER NOT NULL REFERENCES requests(id),
            name TEXT NOT NULL,
            mime TEXT NOT NULL,
            size INTEGER NOT NULL,
            uploaded_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            content BLOB NOT NULL
        );
        CREATE INDEX attachments_request ON attachments(request_id);
        """

    package static let insertRequest = """
        INSERT INTO requests (id, process_key, business_key, status, priority, created_by, created_at, updated_at, data)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    package static let insertTask = """
        INSERT INTO tasks (request_id, name, candidate_group, assignee, state, created_at, due_at, completed_at, outcome)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    package static let insertComment = """
        INSERT INTO comments (request_id, task_id, author, created_at, body) VALUES (?, ?, ?, ?, ?)
        """
    package static let insertAttachment = """
        INSERT INTO attachments (request_id, name, mime, size, uploaded_by, created_at, content) VALUES (?, ?, ?, ?, ?, ?, ?)
        """

    /// 2022-01-01T00:00:00Z: generated history starts here so a seed gives the same bytes on any day.
    package static let epochMilliseconds: Int64 = 1_640_995_200_000
    /// Generated history spans two years.
    package static let historyMilliseconds: Int64 = 2 * 365 * 86_400_000
}
