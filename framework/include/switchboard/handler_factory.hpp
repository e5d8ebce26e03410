#pragma once
// HandlerFactory: makes one handler per request, and knows from the handler's
// type how it runs, so that a policy picks the thread before any is made.

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace switchboard {

class BaseRequestHandler;

/// How a handler runs. Only the reactor tells the kinds apart; every other
/// policy runs each to its end on the policy's thread.
enum class HandlerKind : unsigned char {
  blocking,     ///< handle() runs to its end, holding its thread
  restartable,  ///< blocking, and unwound at an idle request boundary (the reactor parks it)
  coroutine,    ///< handle_async(), awaited on an event loop
};

/// A handler class's kind: a coroutine base (AsyncStreamRequestHandler,
/// AsyncDatagramRequestHandler), `static constexpr bool restartable = true`,
/// or blocking.
template <class H>
constexpr HandlerKind handler_kind_of() {
  if constexpr (requires { requires H::is_coroutine_handler; })
    return HandlerKind::coroutine;
  else if constexpr (requires { requires H::restartable; })
    return HandlerKind::restartable;
  else
    return HandlerKind::blocking;
}

class HandlerFactory {
 public:
  HandlerFactory() = default;
  /// Any callable returning std::unique_ptr<H>: the kind is H's. One that
  /// returns std::unique_ptr<BaseRequestHandler> hides it: kind_known() is
  /// false, and the reactor looks at each handler it makes.
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, HandlerFactory> && std::is_invocable_v<F&>)
      HandlerFactory(F make)  // NOLINT: implicit, as std::function's
      : make_(std::move(make)) {
    using H = typename std::invoke_result_t<F&>::element_type;
    if constexpr (!std::is_same_v<H, BaseRequestHandler>) {
      kind_ = handler_kind_of<H>();
      known_ = true;
    }
  }
  /// A callable and the kind of what it makes, said outright.
  template <class F>
  HandlerFactory(F make, HandlerKind kind) : make_(std::move(make)), kind_(kind), known_(true) {}

  /// A new handler. Throws what the callable throws.
  std::unique_ptr<BaseRequestHandler> operator()() const;
  explicit operator bool() const { return static_cast<bool>(make_); }
  HandlerKind kind() const { return kind_; }
  bool kind_known() const { return known_; }

 private:
  std::function<std::unique_ptr<BaseRequestHandler>()> make_;
  HandlerKind kind_ = HandlerKind::blocking;
  bool known_ = false;
};

/// The factory that makes a default-constructed `Handler` per request.
template <class Handler>
inline const HandlerFactory handler = [] { return std::make_unique<Handler>(); };

/// handler<Handler>, served as restartable: an existing handler that keeps no
/// state on its stack between requests opts in without being changed.
template <class Handler>
inline const HandlerFactory restartable_handler{[] { return std::make_unique<Handler>(); },
                                                HandlerKind::restartable};

}  // namespace switchboard
