// Boost.Asio and its SSL support, compiled once here (BOOST_ASIO_SEPARATE_COMPILATION) instead
// of in every translation unit that uses them.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
