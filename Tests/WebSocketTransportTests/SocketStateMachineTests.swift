import NIOCore
import Testing

@testable import WebSocketTransport

/// A socket's state without a channel (issue #20): pings, the close handshake both ways, events and read pausing.
/// (`#expect` cannot hold a mutating call, so each step is taken first and checked after.)
@Suite("Socket state machine")
struct SocketStateMachineTests {
    typealias Event = SocketEvent

    @Test("A ping is sent when due; one left unanswered at the next drops the connection; a pong clears it")
    func pings() {
        var m = SocketStateMachine(maxQueued: 4)
        let first = m.pingDue()
        m.receivedPong()
        let second = m.pingDue()
        let third = m.pingDue()
        #expect([first, second, third] == [.sendPing, .sendPing, .drop])
        #expect(m.shouldAnswerPing())
        _ = m.closeRequested()
        let closing = m.pingDue()
        #expect(closing == .nothing)
        #expect(!m.shouldAnswerPing())
    }

    @Test("The peer closes first: its code is echoed once; a close we began is answered by ending the connection")
    func closes() {
        var peerFirst = SocketStateMachine(maxQueued: 4)
        let echoed = peerFirst.receivedClose(code: 1001)
        let closeAfter = peerFirst.closeRequested()
        #expect(echoed == .echo(code: 1001))
        #expect(peerFirst.isClosing && !closeAfter)
        #expect(peerFirst.peerClose == .some(1001))

        var oursFirst = SocketStateMachine(maxQueued: 4)
        let began = oursFirst.closeRequested()
        let again = oursFirst.closeRequested()
        let answer = oursFirst.receivedClose(code: nil)
        #expect(began && !again)
        #expect(answer == .closeConnection)
        #expect(oursFirst.peerClose == .some(nil))
    }

    @Test("Events wait until attached, go in batches one at a time, and pause reading at maxQueued until delivered")
    func events() {
        var m = SocketStateMachine(maxQueued: 2)
        let a = Event.text(ByteBuffer(string: "a"))
        let b = Event.text(ByteBuffer(string: "b"))
        let c = Event.closed(closeFrame: nil)
        let pushA = m.push(a)
        let pushB = m.push(b)
        #expect(pushA == (false, .nothing))
        #expect(pushB == (true, .nothing))
        #expect(m.readPaused)
        let attached = m.attach()
        #expect(attached == .deliver([a, b]))
        // One batch at a time: the next waits for the hub.
        let pushC = m.push(c)
        let firstDone = m.delivered()
        let secondDone = m.delivered()
        #expect(pushC == (false, .nothing))
        #expect(firstDone == (true, .deliver([c])))
        #expect(!m.readPaused)
        #expect(secondDone == (false, .nothing))
    }
}
