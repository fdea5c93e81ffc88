import LifeboatCore

/// Builds the values a workflow engine stores: comment prose, JSON form data, user names.
/// Everything is appended to reused byte buffers because the generator produces gigabytes of it.
/// Text comes from a business vocabulary, so it compresses like real comments do (about 3-4×).
package struct ProcessContent {
    package struct Process {
        package let key: String
        package let tasks: [(name: String, group: String)]
    }

    package static let processes: [Process] = [
        Process(key: "purchase-request", tasks: [("Approve purchase", "managers"), ("Check budget", "finance"), ("Place order", "procurement")]),
        Process(key: "invoice-approval", tasks: [("Verify invoice", "accounts-payable"), ("Approve payment", "finance"), ("Schedule payment", "treasury")]),
        Process(key: "leave-request", tasks: [("Approve leave", "managers"), ("Record absence", "hr")]),
        Process(key: "customer-onboarding", tasks: [("Verify identity", "compliance"), ("Credit check", "risk"), ("Open account", "operations"), ("Welcome call", "sales")]),
        Process(key: "contract-review", tasks: [("Legal review", "legal"), ("Commercial review", "sales"), ("Sign contract", "executives")]),
        Process(key: "it-access-request", tasks: [("Approve access", "managers"), ("Security review", "security"), ("Grant access", "it-ops")]),
        Process(key: "expense-claim", tasks: [("Check receipts", "accounts-payable"), ("Approve claim", "managers")]),
        Process(key: "vendor-registration", tasks: [("Due diligence", "compliance"), ("Register vendor", "procurement")]),
        Process(key: "incident-report", tasks: [("Triage incident", "it-ops"), ("Root cause analysis", "engineering"), ("Close incident", "it-ops")]),
        Process(key: "travel-request", tasks: [("Approve travel", "managers"), ("Book travel", "travel-desk")]),
    ]

    package static let openStatuses = ["open", "in_progress", "waiting_for_customer", "in_review"]
    package static let closedStatuses = ["completed", "completed", "completed", "rejected", "cancelled"]
    package static let outcomes = ["approved", "approved", "approved", "rejected", "escalated", "returned"]

    package static let words: [String] = """
        the request was approved rejected escalated by manager finance team customer vendor invoice \
        order payment budget contract review please check attached document updated amount total \
        tax net gross due date delivery shipment received missing signature compliance policy risk \
        credit limit account number reference project cost center department quarter annual \
        report approval pending waiting for information clarification follow up call email meeting \
        agreed discussed with legal procurement supplier quote price discount terms conditions \
        renewal extension deadline urgent priority high low medium standard process step task \
        assigned completed closed reopened comment note see above below previous version corrected \
        error duplicate entry confirmed verified identity address phone onboarding access system \
        permission granted revoked security incident resolved root cause analysis action item owner \
        schedule next week month today tomorrow yesterday morning afternoon thanks regards best \
        kind as requested per our conversation it seems that we need to an and or of in on at to \
        from with without before after because however therefore also still not yet already \
        this that these those is are be been has have had will would should could can may must \
        its their our your my his her they we you I it one two three several many few all some \
        travel hotel flight expense receipt reimbursement mileage per diem claim limit exceeded \
        exception justification business purpose client visit conference training hardware laptop \
        license subscription renewal software vendor registration tax id bank details iban swift
        """.split(separator: " ").map(String.init)

    package static let firstNames = ["anna", "ben", "carla", "david", "elena", "farid", "greta", "hugo", "ines", "jonas",
                             "karin", "luca", "maria", "nils", "olga", "pablo", "quentin", "rosa", "sven", "tara",
                             "umar", "vera", "wei", "xenia", "yusuf", "zoe"]
    package static let lastNames = ["schmidt", "martin", "rossi", "garcia", "novak", "jensen", "kowalski", "dubois",
                            "silva", "berg", "meyer", "costa", "lindqvist", "moreau", "weber", "fischer"]
    package static let currencies = ["EUR", "EUR", "EUR", "USD", "GBP", "CHF"]
    package static let departments = ["finance", "sales", "operations", "engineering", "hr", "legal", "marketing", "it"]

    package static let attachmentKinds: [(ext: String, mime: String)] = [
        ("pdf", "application/pdf"), ("pdf", "application/pdf"), ("jpg", "image/jpeg"),
        ("png", "image/png"), ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("zip", "application/zip"),
    ]

    /// Word bytes, prepared once so appending a word is a memcpy.
    private let wordBytes: [[UInt8]] = ProcessContent.words.map { Array($0.utf8) }
    /// "first.last" users of the platform.
    package let users: [String] = ProcessContent.firstNames.flatMap { f in ProcessContent.lastNames.map { "\(f).\($0)" } }

    package func user(_ rng: inout SeededGenerator) -> String { users[rng.below(users.count)] }

    /// Appends prose of about `length` bytes (whole sentences, so slightly more or less).
    package func appendProse(_ length: Int, to out: inout [UInt8], _ rng: inout SeededGenerator) {
        let end = out.count + length
        while out.count < end {
            let sentenceLength = rng.between(5...18)
            for i in 0..<sentenceLength {
                let word = wordBytes[rng.below(wordBytes.count)]
                if i == 0 {
                    // Capitalise the sentence's first letter, as people type.
                    out.append(word[0] >= 0x61 && word[0] <= 0x7a ? word[0] - 0x20 : word[0])
                    out.append(contentsOf: word[1...])
                } else {
                    out.append(0x20)
                    out.append(contentsOf: word)
                }
            }
            out.append(rng.chance(0.1) ? 0x3f : 0x2e) // ? or .
            out.append(rng.chance(0.15) ? 0x0a : 0x20)
        }
    }

    /// Appends the JSON form data of one request: customer, amounts, line items, approvals.
    /// `size` steers how many line items and how long the justification are (average bytes).
    package func appendFormData(process: Process, requestID: Int64, createdAt: Int64, approxSize: Int,
                        marker: String?, to out: inout [UInt8], _ rng: inout SeededGenerator) {
        func raw(_ s: String) { out.append(contentsOf: s.utf8) }
        func string(_ key: String, _ value: String) {
            raw("\"\(key)\":\"")
            raw(value)
            raw("\",")
        }
        let start = out.count
        let customer = "\(Self.firstNames[rng.below(Self.firstNames.count)].capitalized) \(Self.lastNames[rng.below(Self.lastNames.count)].capitalized)"
        raw("{\"form_version\":\(rng.between(1...4)),")
        string("process", process.key)
        raw("\"customer\":{")
        string("name", customer)
        string("email", "\(customer.lowercased().replacingSpaces(with: "."))@example.com")
        string("phone", "+49 30 \(rng.between(1_000_000...9_999_999))")
        raw("\"account\":\"ACC-\(rng.between(100_000...999_999))\"},")
        raw("\"amount\":\(rng.between(10...250_000)).\(rng.between(10...99)),")
        string("currency", Self.currencies[rng.below(Self.currencies.count)])
        string("department", Self.departments[rng.below(Self.departments.count)])
        string("cost_center", "CC-\(rng.between(1000...9999))")
        if let marker { string("reference", marker) }
        raw("\"justification\":\"")
        appendProse(max(40, approxSize / 5), to: &out, &rng)
        // JSON strings cannot hold raw newlines.
        for i in start..<out.count where out[i] == 0x0a { out[i] = 0x20 }
        raw("\",\"items\":[")
        let itemCount = max(1, (approxSize - (out.count - start)) / 150)
        for i in 0..<itemCount {
            if i > 0 { raw(",") }
            raw("{\"sku\":\"SKU-\(rng.between(10_000...99_999))\",\"description\":\"")
            appendWords(rng.between(3...8), to: &out, &rng)
            raw("\",\"quantity\":\(rng.between(1...50)),\"unit_price\":\(rng.between(1...5000)).\(rng.between(10...99))}")
        }
        raw("],\"approvals\":[")
        for i in 0..<rng.between(0...2) {
            if i > 0 { raw(",") }
            raw("{\"step\":\"\(process.tasks[i % process.tasks.count].group)\",\"by\":\"\(user(&rng))\",")
            raw("\"at\":\(createdAt + Int64(rng.between(60_000...400_000_000))),\"decision\":\"\(Self.outcomes[rng.below(Self.outcomes.count)])\"}")
        }
        raw("],\"tags\":[\"\(Self.words[rng.below(Self.words.count)])\",\"\(Self.words[rng.below(Self.words.count)])\"],")
        raw("\"request_id\":\(requestID)}")
    }

    private func appendWords(_ count: Int, to out: inout [UInt8], _ rng: inout SeededGenerator) {
        for i in 0..<count {
            if i > 0 { out.append(0x20) }
            out.append(contentsOf: wordBytes[rng.below(wordBytes.count)])
        }
    }
}

extension String {
    fileprivate var capitalized: String { prefix(1).uppercased() + dropFirst() }
    fileprivate func replacingSpaces(with replacement: String) -> String {
        split(separator: " ").joined(separator: replacement)
    }
}
