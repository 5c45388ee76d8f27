import Foundation
import Glibc

/// `clarity-fleet serve` as a real process on loopback (port chosen by the kernel), for the
/// fleet suites. Stopped (SIGTERM) when released; `kill9` for the crash test.
public final class RunningFleetService: @unchecked Sendable {
    public let url: String
    public let process: Process
    public let log: String
    /// The file holding `adminToken`, for `clarity-fleet rollout … --admin-token-file`.
    public let adminTokenFile: String

    /// Starts the service on `database` and waits until it says it listens.
    /// The token the dashboard and the exports ask for (`--admin-token-file`).
    public static let adminToken = "admin-token-0123456789abcdef"

    /// `curl` arguments that present the admin token.
    public static var adminHeader: [String] { ["-H", "Authorization: Bearer " + adminToken] }

    /// The dashboard's URL with the admin token as a browser sends it (HTTP Basic).
    public func dashboardURL(_ path: String = "/dashboard") -> String {
        url.replacingOccurrences(of: "http://", with: "http://admin:\(Self.adminToken)@") + path
    }

    public init(database: String, token: String, in scratch: TemporaryDirectory, name: String = "serve") throws {
        let tokenFile = try scratch.write(name + ".token", token)
        adminTokenFile = try scratch.write(name + ".admin-token", Self.adminToken)
        log = scratch.path + "/\(name).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process = Process()
        process.executableURL = URL(fileURLWithPath: Tool.clarityFleet)
        process.arguments = ["serve", "--database", database, "--listen", "127.0.0.1:0", "--enrollment-token-file", tokenFile,
                             "--admin-token-file", adminTokenFile]
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        var found: String?
        while found == nil, Date() < deadline, process.isRunning {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            found = text.split(separator: "\n").first { $0.hasPrefix("listening on ") }
                .map { String($0.dropFirst("listening on ".count).split(separator: " ")[0]) }
            if found == nil { usleep(50_000) }
        }
        guard let found else {
            if process.isRunning { process.terminate() }
            throw Tool.Failure(message: "clarity-fleet serve did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        url = found
    }

    /// SIGKILL, as a crash: no request in flight is finished.
    public func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

/// A throwaway PostgreSQL 15 cluster (Debian's server binaries) listening only on a Unix
/// socket in its own folder: `initdb` as the `postgres` user, `pg_ctl start`, a `fleet`
/// database; stopped and removed when released.
public final class PostgresCluster: @unchecked Sendable {
    public let folder: String
    /// `postgresql://postgres@/fleet?host=FOLDER`
    public let url: String
    static let bin = "/usr/lib/postgresql/15/bin"

    public init() throws {
        // Under /tmp: the postgres user must reach the folder, and the socket path must be short.
        var template = Array("/tmp/clarity-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw Tool.Failure(message: "mkdtemp failed in /tmp") }
        folder = String(cString: made)
        url = "postgresql://postgres@/fleet?host=\(folder)"
        _ = try Tool.run("/bin/chown", ["postgres:postgres", folder])
        try Self.asPostgres(["\(Self.bin)/initdb", "-D", folder + "/data", "-A", "trust", "-U", "postgres", "--no-sync"])
        // Its streams on a file, not a pipe: the server pg_ctl leaves running inherits them,
        // and a pipe would never reach its end for Tool.run.
        let status = try Self.spawnAndWait(["/usr/sbin/runuser", "-u", "postgres", "--", "\(Self.bin)/pg_ctl", "-D", folder + "/data",
                                            "-l", folder + "/server.log", "-w", "-o", "-k \(folder) -c listen_addresses='' -c fsync=on", "start"],
                                           log: folder + "/pg_ctl.log")
        guard status == 0 else {
            throw Tool.Failure(message: "pg_ctl start: \((try? String(contentsOfFile: folder + "/pg_ctl.log", encoding: .utf8)) ?? "")")
        }
        try Self.asPostgres(["/usr/bin/createdb", "-h", folder, "-U", "postgres", "fleet"])
    }

    /// posix_spawn with stdin from /dev/null and stdout and stderr on `log`, then waitpid.
    static func spawnAndWait(_ argv: [String], log: String) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid: pid_t = 0
        let arguments = argv.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, arguments, environ)
        guard spawned == 0 else { throw Tool.Failure(message: "posix_spawn \(argv[0]): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status >> 8) & 0xff
    }

    static func asPostgres(_ command: [String]) throws {
        let result = try Tool.run("/usr/sbin/runuser", ["-u", "postgres", "--"] + command)
        guard result.status == 0 else { throw Tool.Failure(message: "\(command.joined(separator: " ")): \(result.stdout)\(result.stderr)") }
    }

    /// `psql -At` of one statement, as text.
    public func psql(_ sql: String) throws -> String {
        let result = try Tool.run("/usr/sbin/runuser", ["-u", "postgres", "--", "/usr/bin/psql", "-h", folder, "-U", "postgres", "-d", "fleet",
                                                        "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        guard result.status == 0 else { throw Tool.Failure(message: "psql: \(result.stderr)") }
        return result.stdout
    }

    /// Everything stored, as `pg_dump` writes it.
    public func dump() throws -> String {
        try Tool.run("/usr/sbin/runuser", ["-u", "postgres", "--", "/usr/bin/pg_dump", "-h", folder, "-U", "postgres", "fleet"]).stdout
    }

    deinit {
        _ = try? Self.asPostgres(["\(Self.bin)/pg_ctl", "-D", folder + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: folder)
    }
}
