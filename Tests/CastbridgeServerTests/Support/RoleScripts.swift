import Foundation

/// The programs the Cast role tests run: real executables written to a folder, as a user's would be.
enum RoleScripts {
    static func folder() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("castbridge-roles-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func write(_ text: String, named name: String, in dir: String) throws -> String {
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    /// An onMessage program: a result derived from each input (`RESULT:` and its bytes), progress on standard output;
    /// an input named fail* fails it with exit code 3, one named hang* makes it hang.
    static func onMessage(in dir: String) throws -> String {
        try write(
            """
            #!/bin/sh
            n=$(ls "$CAST_INPUT_DIR" | wc -l | tr -d ' ')
            echo "progress: reading $n file(s) from $CAST_SENDER"
            for f in "$CAST_INPUT_DIR"/*; do
              name=$(basename "$f")
              case "$name" in
                fail*) echo "error: cannot segment $name"; echo "segmenter crashed" >&2; exit 3 ;;
                hang*) sleep 30; exit 0 ;;
              esac
              { printf 'RESULT:'; cat "$f"; } > "$CAST_OUTPUT_DIR/seg-$name"
            done
            echo "notes" > "$CAST_OUTPUT_DIR/notes.txt"
            echo "progress: wrote $n result(s)"
            """, named: "on-message.sh", in: dir)
    }

    /// A 2×1 PNG, as a viewer's screenshot would be.
    static let png = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAYAAAD0In+KAAAAEUlEQVR4nGP4z8DwnwEIGAAbqgL+kWTqcQAAAABJRU5ErkJggg=="

    /// A viewer: records what it was asked to open (its study folder and the files in it) and writes a thumbnail.
    static func viewer(in dir: String) throws -> String {
        try write(
            """
            #!/bin/sh
            study="$1"
            echo "open $CAST_OPEN_MODE $CAST_STUDY_UID $(ls "$study" | tr '\\n' ' ')" >> "\(dir)/record.txt"
            printf '%s' '\(png)' | base64 -d > "\(dir)/thumb.png"
            """, named: "viewer.sh", in: dir)
    }

    static func close(in dir: String) throws -> String {
        try write("#!/bin/sh\necho \"close $(basename \"$1\")\" >> \"\(dir)/record.txt\"\n", named: "close.sh", in: dir)
    }

    /// A scene hook: the layout and one viewport with the viewer's thumbnail.
    static func sceneHook(in dir: String) throws -> String {
        try write(
            """
            #!/bin/sh
            echo '{"display": {"layoutName": "one-up", "activeViewId": "main"},'
            echo ' "viewports": [{"viewId": "main", "type": "2D", "name": "Main", "studyInstanceUID": "'"$CAST_STUDY_ID"'", "thumbnail": "\(dir)/thumb.png"}]}'
            """, named: "scene.sh", in: dir)
    }

    static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
}
