import CCurl
import Foundation
import LifeboatCore

/// One HTTP exchange handed to libcurl. The body is borrowed for the duration of the call.
package struct HTTPRequest {
    package var method: String
    package var url: String
    /// Sent as given; with SigV4 every one of them is signed, so only set what must be sent.
    package var headers: [(String, String)] = []
    /// nil: no request body (GET, HEAD, DELETE).
    package var body: [UInt8]?
    /// Expected response size, to size the buffer once.
    package var expectedResponseSize: Int = 0
}

package struct HTTPResponse: Sendable {
    package var status: Int
    /// Response headers with lower-cased names (of the final response, not of `100 Continue`).
    package var headers: [String: String]
    package var body: [UInt8]
}

/// AWS Signature V4 done by libcurl (`CURLOPT_AWS_SIGV4`). Holds the secret, in memory that is
/// wiped when freed, until each request hands it to libcurl: never printed.
package struct SigV4Signing: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    package let scope: String          // "aws:amz:REGION:s3"
    package let accessKeyID: String
    package let secretAccessKey: SecretBytes

    package var description: String { "SigV4(\(scope), secret redacted)" }
    package var debugDescription: String { description }
}

/// Transport settings shared by every request of a backend.
public struct TransportSettings: Sendable {
    /// PEM bundle of trusted CAs instead of the system store (private MinIO/Ceph).
    public var caCertPath: String?
    /// Permit `http://`; the S3 location checks the host is loopback before setting it.
    package var allowPlainHTTP = false
    public var connectTimeout: Double = 10
    /// A transfer slower than 1 byte/s for this long is a stall: abort it (and retry).
    public var stallTimeout: Int = 30
    /// Upper bound for one request, nil for none (large objects on slow links).
    public var requestTimeout: Double?

    public init(caCertPath: String? = nil, connectTimeout: Double = 10, stallTimeout: Int = 30, requestTimeout: Double? = nil) {
        self.caCertPath = caCertPath
        self.connectTimeout = connectTimeout
        self.stallTimeout = stallTimeout
        self.requestTimeout = requestTimeout
    }
}

/// Initialises libcurl exactly once, before the first handle (curl_global_init is not thread-safe).
private let curlGlobalReady: Bool = lb_curl_global_init_default() == CURLE_OK

/// A small pool of libcurl easy handles. A handle serves one request at a time; keeping
/// handles keeps their connections (and TLS sessions) alive between requests.
package final class CurlPool: Sendable {
    private let idle = Locked<[CurlHandle]>([])
    private let maxIdle: Int

    package init(maxIdle: Int = 16) { self.maxIdle = maxIdle }

    package func perform(_ request: HTTPRequest, settings: TransportSettings, signing: SigV4Signing?) throws -> HTTPResponse {
        let handle = try checkout()
        defer { checkin(handle) }
        return try handle.perform(request, settings: settings, signing: signing)
    }

    private func checkout() throws -> CurlHandle {
        if let reused = idle.withLock({ $0.popLast() }) { return reused }
        return try CurlHandle()
    }

    private func checkin(_ handle: CurlHandle) {
        idle.withLock { if $0.count < maxIdle { $0.append(handle) } }
    }
}

/// Request body source for curl's read callback.
private final class UploadSource {
    package let base: UnsafeRawPointer?
    package let count: Int
    package var offset = 0
    package init(_ buffer: UnsafeRawBufferPointer) {
        base = buffer.baseAddress
        count = buffer.count
    }
}

/// Response sink for curl's write and header callbacks.
private final class ResponseSink {
    package var body: [UInt8] = []
    package var headers: [String: String] = [:]
}

/// One libcurl easy handle. Not thread-safe: the pool hands it to one thread at a time.
package final class CurlHandle {
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>

    package init() throws {
        guard curlGlobalReady, let h = curl_easy_init() else {
            throw LifeboatError(.internalError, "cannot initialise libcurl; check that libcurl4 is installed")
        }
        handle = h
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    package func perform(_ request: HTTPRequest, settings: TransportSettings, signing: SigV4Signing?) throws -> HTTPResponse {
        if let body = request.body {
            return try body.withUnsafeBytes { try perform(request, body: $0, settings: settings, signing: signing) }
        }
        return try perform(request, body: nil, settings: settings, signing: signing)
    }

    private func perform(_ request: HTTPRequest, body: UnsafeRawBufferPointer?, settings: TransportSettings, signing: SigV4Signing?) throws -> HTTPResponse {
        let h = handle
        curl_easy_reset(h)  // keeps the connection cache, forgets every option
        errorBuffer[0] = 0
        let sink = ResponseSink()
        sink.body.reserveCapacity(request.expectedResponseSize)
        let source = body.map(UploadSource.init)
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }

        var failed = CURLE_OK
        func set(_ result: CURLcode) { if result != CURLE_OK && failed == CURLE_OK { failed = result } }

        // Transport security: these are never relaxed, whatever the caller asks.
        set(lb_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1))  // signals are unsafe with threads
        set(lb_curl_setopt_str(h, CURLOPT_URL, request.url))
        set(lb_curl_setopt_str(h, CURLOPT_PROTOCOLS_STR, settings.allowPlainHTTP ? "https,http" : "https"))
        set(lb_curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0))
        set(lb_curl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, 1))
        set(lb_curl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, 2))
        set(lb_curl_setopt_long(h, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2))
        if let ca = settings.caCertPath { set(lb_curl_setopt_str(h, CURLOPT_CAINFO, ca)) }
        // S3 speaks HTTP/1.1; pinning it avoids ALPN surprises with proxies and test servers.
        set(lb_curl_setopt_long(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1))
        set(lb_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, Int(settings.connectTimeout * 1000)))
        set(lb_curl_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, 1))
        set(lb_curl_setopt_long(h, CURLOPT_LOW_SPEED_TIME, settings.stallTimeout))
        if let t = settings.requestTimeout { set(lb_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(t * 1000))) }
        set(lb_curl_setopt_str(h, CURLOPT_USERAGENT, "lifeboat"))
        set(lb_curl_setopt_ptr(h, CURLOPT_ERRORBUFFER, errorBuffer))

        let sinkPtr = Unmanaged.passUnretained(sink).toOpaque()
        set(lb_curl_setopt_datacb(h, CURLOPT_WRITEFUNCTION, { data, size, count, ctx in
            guard let data, let ctx else { return 0 }
            let sink = Unmanaged<ResponseSink>.fromOpaque(ctx).takeUnretainedValue()
            let n = size * count
            data.withMemoryRebound(to: UInt8.self, capacity: n) { sink.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: n)) }
            return n
        }))
        set(lb_curl_setopt_ptr(h, CURLOPT_WRITEDATA, sinkPtr))
        set(lb_curl_setopt_datacb(h, CURLOPT_HEADERFUNCTION, { data, size, count, ctx in
            guard let data, let ctx else { return 0 }
            let sink = Unmanaged<ResponseSink>.fromOpaque(ctx).takeUnretainedValue()
            let n = size * count
            let line = data.withMemoryRebound(to: UInt8.self, capacity: n) { String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self) }
            if line.hasPrefix("HTTP/") {
                sink.headers = [:]  // a new response (after 100 Continue) starts over
            } else if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                sink.headers[name] = value
            }
            return n
        }))
        set(lb_curl_setopt_ptr(h, CURLOPT_HEADERDATA, sinkPtr))

        switch request.method {
        case "GET":
            set(lb_curl_setopt_long(h, CURLOPT_HTTPGET, 1))
        case "HEAD":
            set(lb_curl_setopt_long(h, CURLOPT_NOBODY, 1))
        default:
            set(lb_curl_setopt_str(h, CURLOPT_CUSTOMREQUEST, request.method))
        }
        if let source {
            // An upload (not POSTFIELDS): curl's SigV4 then takes the payload hash from our
            // x-amz-content-sha256 header, and large bodies are streamed, not copied.
            let srcPtr = Unmanaged.passUnretained(source).toOpaque()
            set(lb_curl_setopt_long(h, CURLOPT_UPLOAD, 1))
            set(lb_curl_setopt_off(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(source.count)))
            set(lb_curl_setopt_datacb(h, CURLOPT_READFUNCTION, { buffer, size, count, ctx in
                guard let buffer, let ctx else { return 0 }
                let src = Unmanaged<UploadSource>.fromOpaque(ctx).takeUnretainedValue()
                let n = min(size * count, src.count - src.offset)
                if n > 0, let base = src.base { memcpy(buffer, base + src.offset, n) }
                src.offset += n
                return n
            }))
            set(lb_curl_setopt_ptr(h, CURLOPT_READDATA, srcPtr))
            // Lets curl rewind the body when it must resend it on a new connection.
            set(lb_curl_setopt_seekcb(h, CURLOPT_SEEKFUNCTION, { ctx, offset, origin in
                guard let ctx, origin == SEEK_SET else { return 2 }  // CURL_SEEKFUNC_CANTSEEK
                let src = Unmanaged<UploadSource>.fromOpaque(ctx).takeUnretainedValue()
                guard offset >= 0, Int(offset) <= src.count else { return 1 }  // CURL_SEEKFUNC_FAIL
                src.offset = Int(offset)
                return 0
            }))
            set(lb_curl_setopt_ptr(h, CURLOPT_SEEKDATA, srcPtr))
        }
        for (name, value) in request.headers {
            headerList = curl_slist_append(headerList, "\(name): \(value)")
        }
        set(lb_curl_setopt_slist(h, CURLOPT_HTTPHEADER, headerList))
        if let signing {
            set(lb_curl_setopt_str(h, CURLOPT_AWS_SIGV4, signing.scope))
            set(lb_curl_setopt_str(h, CURLOPT_USERNAME, signing.accessKeyID))
            // libcurl keeps a copy of its own; ours outside SecretBytes is wiped at once.
            set(signing.secretAccessKey.withUnsafeCString { lb_curl_setopt_str(h, CURLOPT_PASSWORD, $0) })
        }
        let host = CurlHandle.hostOf(request.url)
        if failed != CURLE_OK {
            throw LifeboatError(.internalError, "libcurl refused an option (\(String(cString: curl_easy_strerror(failed)))); is libcurl older than 7.85?")
        }

        let code = withExtendedLifetime((sink, source)) { curl_easy_perform(h) }
        // Forget the secret as soon as the request is done: the handle stays in the pool.
        if signing != nil {
            _ = lb_curl_setopt_str(h, CURLOPT_PASSWORD, "")
        }
        if code != CURLE_OK {
            let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
            throw CurlHandle.error(code: code, detail: detail, host: host, https: request.url.hasPrefix("https://"))
        }
        var status = 0
        _ = lb_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: sink.headers, body: sink.body)
    }

    /// "https://host:port/path" -> "host:port", for messages.
    package static func hostOf(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        return String(rest.prefix { $0 != "/" && $0 != "?" })
    }

    /// Certificate and handshake failures are `.tls` (never retried); a scheme curl may not
    /// use is `.usage`; everything else on the way is `.network` (retried by the caller).
    package static func error(code: CURLcode, detail: String, host: String, https: Bool = true) -> LifeboatError {
        // A handshake cut short by the peer (server restarting, connection reset) is a
        // network fault to retry, not a certificate verdict.
        let lowerDetail = detail.lowercased()
        if code == CURLE_SSL_CONNECT_ERROR,
           ["reset by peer", "ssl_error_syscall", "unexpected eof", "broken pipe", "connection refused"].contains(where: lowerDetail.contains) {
            return LifeboatError(.network, "connection to \(host) was cut during the TLS handshake (\(detail)); check the endpoint and your network")
        }
        switch code {
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM,
             CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS,
             CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CIPHER, CURLE_SSL_ENGINE_NOTFOUND:
            let lower = detail.lowercased()
            if lower.contains("expired") {
                return LifeboatError(.tls, "TLS certificate of \(host) has expired (\(detail)); renew the server certificate or check this machine's clock")
            }
            if lower.contains("subject name") || lower.contains("host name") || lower.contains("hostname") {
                return LifeboatError(.tls, "TLS certificate of \(host) is not valid for that host name (\(detail)); use the host name the certificate was issued for")
            }
            if code == CURLE_SSL_CACERT_BADFILE {
                return LifeboatError(.tls, "cannot load the CA bundle for \(host) (\(detail)); check the file given with --cacert / LIFEBOAT_CACERT")
            }
            if code == CURLE_SSL_CONNECT_ERROR || code == CURLE_SSL_CIPHER {
                return LifeboatError(.tls, "TLS handshake with \(host) failed (\(detail)); the server must offer TLS 1.2 or newer")
            }
            return LifeboatError(.tls, "TLS certificate of \(host) not trusted (\(detail)); pass --cacert / LIFEBOAT_CACERT with your CA bundle")
        case CURLE_UNSUPPORTED_PROTOCOL where !https:
            return LifeboatError(.usage, "refusing to talk to \(host) over that protocol (\(detail)); use https://")
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_WEIRD_SERVER_REPLY:
            // On https, curl also says this of an answer that is not HTTP/1.x ("Received
            // HTTP/0.9"): a broken proxy or front end, worth retrying; the scheme is right.
            return LifeboatError(.network, "\(host) sent a malformed HTTP response (\(detail)); if it persists, check the endpoint and any proxy or load balancer in front of it")
        case CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_RECV_ERROR, CURLE_SEND_ERROR:
            return LifeboatError(.network, "connection to \(host) broke off mid-request (\(detail)); check the endpoint and your network")
        case CURLE_OPERATION_TIMEDOUT:
            return LifeboatError(.network, "timed out talking to \(host) (\(detail)); check the endpoint and your network")
        default:
            return LifeboatError(.network, "cannot reach \(host) (\(detail)); check the endpoint and your network")
        }
    }
}
