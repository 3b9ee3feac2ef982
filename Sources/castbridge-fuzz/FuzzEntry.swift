import FuzzTargets
import FuzzerDriver
import Foundation

/// castbridge-fuzz: in a fuzz build (`scripts/fuzz.sh`: `-sanitize=fuzzer,address -DCASTBRIDGE_FUZZ`) libFuzzer's
/// driver runs the target named by `CASTBRIDGE_FUZZ_TARGET`; in a normal build it replays files through a target
/// (`castbridge-fuzz TARGET FILE…`), to reproduce a finding.
@main
struct FuzzEntry {
    static func main() {
        #if CASTBRIDGE_FUZZ
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            target(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
            return 0
        })
        #else
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTargets.named(name) else {
            print("usage: castbridge-fuzz TARGET FILE…   targets: \(FuzzTargets.all.map(\.name).joined(separator: ", "))")
            exit(2)
        }
        for path in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("cannot read \(path)")
                exit(2)
            }
            target(Array(data))
            print("ok \(path)")
        }
        #endif
    }
}

#if CASTBRIDGE_FUZZ
/// The target named by `CASTBRIDGE_FUZZ_TARGET`, chosen once.
let target: FuzzTargets.Target = {
    let name = ProcessInfo.processInfo.environment["CASTBRIDGE_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTargets.named(name) else {
        fatalError("CASTBRIDGE_FUZZ_TARGET must be one of: \(FuzzTargets.all.map(\.name).joined(separator: ", "))")
    }
    return target
}()
#endif
