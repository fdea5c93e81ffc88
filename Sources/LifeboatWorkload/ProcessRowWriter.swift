import LifeboatCore

/// Inserts one request with everything an engine stores with it (tasks, comments, maybe an
/// attachment), with prepared statements reused across calls. Shared by the generator (bulk)
/// and the mutator (requests started since the last backup).
package final class ProcessRowWriter {
    package struct Counts {
        package var requests = 0, tasks = 0, comments = 0, attachments = 0
        package var textBytes = 0, jsonBytes = 0, blobBytes = 0
        package var rows: Int { requests + tasks + comments + attachments }
    }

    private let db: SQLiteConnection
    private let insertRequest: SQLiteStatement
    private let insertTask: SQLiteStatement
    private let insertComment: SQLiteStatement
    private let insertAttachment: SQLiteStatement
    package let content = ProcessContent()
    private var json: [UInt8] = []
    private var text: [UInt8] = []
    private var blob: [UInt8] = []

    package init(db: SQLiteConnection) throws {
        self.db = db
        insertRequest = try db.prepare(ProcessSchema.insertRequest)
        insertTask = try db.prepare(ProcessSchema.insertTask)
        insertComment = try db.prepare(ProcessSchema.insertComment)
        insertAttachment = try db.prepare(ProcessSchema.insertAttachment)
        json.reserveCapacity(8192)
        text.reserveCapacity(8192)
        blob.reserveCapacity(16384)
    }

    /// Inserts request `id` created at `createdAt`; open requests wait on a step, closed ones are done.
    package func insertFullRequest(id requestID: Int64, createdAt: Int64, isOpen: Bool, marker: String?,
                           counts: inout Counts, _ rng: inout SeededGenerator) throws {
        let process = ProcessContent.processes[rng.below(ProcessContent.processes.count)]
        let status = isOpen ? ProcessContent.openStatuses[rng.below(ProcessContent.openStatuses.count)]
                            : ProcessContent.closedStatuses[rng.below(ProcessContent.closedStatuses.count)]
        let updatedAt = createdAt + Int64(rng.between(60_000...864_000_000))
        let createdBy = content.user(&rng)

        json.removeAll(keepingCapacity: true)
        content.appendFormData(process: process, requestID: requestID, createdAt: createdAt,
                               approxSize: rng.between(400...1600), marker: marker, to: &json, &rng)
        let businessKey = "\(process.key)/\(requestID)"
        try insertRequest.bind(1, int64: requestID)
        try insertRequest.bind(2, text: process.key)
        try insertRequest.bind(3, text: businessKey)
        try insertRequest.bind(4, text: status)
        try insertRequest.bind(5, int64: Int64(rng.between(1...4)))
        try insertRequest.bind(6, text: createdBy)
        try insertRequest.bind(7, int64: createdAt)
        try insertRequest.bind(8, int64: updatedAt)
        try insertRequest.bind(9, utf8: json)
        try insertRequest.execute()
        counts.requests += 1
        counts.jsonBytes += json.count
        counts.textBytes += process.key.utf8.count + businessKey.utf8.count + status.utf8.count + createdBy.utf8.count

        // Every step of a closed request is done; an open one waits on its current step.
        let doneSteps = isOpen ? rng.below(process.tasks.count) : process.tasks.count
        var lastTaskID: Int64 = 0
        for (step, task) in process.tasks.enumerated() where step <= doneSteps {
            let done = step < doneSteps
            let taskCreated = createdAt + Int64(step) * 3_600_000
            let assignee: String? = done || rng.chance(0.5) ? content.user(&rng) : nil
            let state = done ? "completed" : (assignee == nil ? "open" : "claimed")
            try insertTask.bind(1, int64: requestID)
            try insertTask.bind(2, text: task.name)
            try insertTask.bind(3, text: task.group)
            if let assignee { try insertTask.bind(4, text: assignee) } else { try insertTask.bindNull(4) }
            try insertTask.bind(5, text: state)
            try insertTask.bind(6, int64: taskCreated)
            try insertTask.bind(7, int64: taskCreated + 3 * 86_400_000)
            if done {
                try insertTask.bind(8, int64: taskCreated + Int64(rng.between(60_000...200_000_000)))
                try insertTask.bind(9, text: ProcessContent.outcomes[rng.below(ProcessContent.outcomes.count)])
            } else {
                try insertTask.bindNull(8)
                try insertTask.bindNull(9)
            }
            try insertTask.execute()
            lastTaskID = db.lastInsertRowID
            counts.tasks += 1
            counts.textBytes += task.name.utf8.count + task.group.utf8.count + (assignee?.utf8.count ?? 0) + state.utf8.count
        }

        let commentCount = marker == nil ? rng.between(0...5) : 1
        for c in 0..<commentCount {
            let taskID: Int64? = lastTaskID > 0 && rng.chance(0.7) ? lastTaskID : nil
            try insertComment(requestID: requestID, taskID: taskID, at: createdAt + Int64(c + 1) * 1_800_000,
                              prefix: marker.map { "Reference \($0). " }, counts: &counts, &rng)
        }

        if rng.chance(0.15) {
            let kind = ProcessContent.attachmentKinds[rng.below(ProcessContent.attachmentKinds.count)]
            let size = rng.between(1024...12_288)
            blob.removeAll(keepingCapacity: true)
            rng.appendBytes(size, to: &blob)
            let name = "\(ProcessContent.words[rng.below(ProcessContent.words.count)])-\(requestID).\(kind.ext)"
            let uploader = content.user(&rng)
            try insertAttachment.bind(1, int64: requestID)
            try insertAttachment.bind(2, text: name)
            try insertAttachment.bind(3, text: kind.mime)
            try insertAttachment.bind(4, int64: Int64(size))
            try insertAttachment.bind(5, text: uploader)
            try insertAttachment.bind(6, int64: createdAt + 600_000)
            try insertAttachment.bind(7, blob: blob)
            try insertAttachment.execute()
            counts.attachments += 1
            counts.blobBytes += size
            counts.textBytes += name.utf8.count + kind.mime.utf8.count + uploader.utf8.count
        }
    }

    /// Inserts one comment of 150-1250 bytes of prose.
    package func insertComment(requestID: Int64, taskID: Int64?, at time: Int64, prefix: String? = nil,
                       counts: inout Counts, _ rng: inout SeededGenerator) throws {
        text.removeAll(keepingCapacity: true)
        if let prefix { text.append(contentsOf: prefix.utf8) }
        content.appendProse(rng.between(150...1250), to: &text, &rng)
        let author = content.user(&rng)
        try insertComment.bind(1, int64: requestID)
        if let taskID { try insertComment.bind(2, int64: taskID) } else { try insertComment.bindNull(2) }
        try insertComment.bind(3, text: author)
        try insertComment.bind(4, int64: time)
        try insertComment.bind(5, utf8: text)
        try insertComment.execute()
        counts.comments += 1
        counts.textBytes += text.count + author.utf8.count
    }
}
