import Policy

/// The login path: sshd runs the ForceCommand through the user's login shell (`SHELL -c
/// COMMAND`), and most shells read start-up files before they run it. A file the user can write
/// there runs before jitsh does, with no grant and no guard.
public enum LoginShell {
    /// Start-up files (relative to the home directory) a shell reads for `-c`, or nil when the
    /// shell is not known. Debian's bash reads ~/.bashrc when sshd starts it (SSH_SOURCE_BASHRC);
    /// the login files count too because an interactive login without ForceCommand reads them.
    public static func startupFiles(of shell: String) -> [String]? {
        switch PathName.base(shell) {
        case "jitsh": return []
        case "bash": return [".bashrc", ".bash_profile", ".bash_login", ".profile", ".bash_logout"]
        case "zsh": return [".zshenv", ".zprofile", ".zshrc", ".zlogin", ".zlogout"]
        case "fish": return [".config/fish/config.fish", ".config/fish/conf.d"]
        case "tcsh", "csh": return [".tcshrc", ".cshrc", ".login", ".logout"]
        // ENV and ~/.profile are read only by an interactive or login shell; `-c` reads nothing.
        case "sh", "dash", "ksh", "ksh93", "mksh", "posh": return []
        case "nologin", "false": return []
        default: return nil
        }
    }
}

extension Session {
    /// The login file `path` (absolute) leads to, by its name or through symlinks (dangling
    /// ones too), against the home as written and as resolved; or nil. With `ancestors`, a
    /// directory above a login file counts too (writing into it could create one).
    static func loginFile(_ path: String, home: String, ancestors: Bool = false) -> String? {
        let homes = Set([home, followed(home)])
        for p in Set([path, physical(path), followed(path)]) {
            for h in homes {
                if let file = ancestors ? LoginFiles.inside(p, home: h) : LoginFiles.covering(p, home: h) { return file }
            }
        }
        return nil
    }
}
