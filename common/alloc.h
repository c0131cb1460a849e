/* alloc.h - allocation wrappers that never return NULL.
 *
 * Nave's daemons treat running out of memory as fatal, as Redis's zmalloc does:
 * every allocation either succeeds or the process logs and aborts. Callers
 * therefore never check these for NULL. Limits on what outside input may make
 * us allocate are enforced before allocating (see buf.h), not here.
 */
#ifndef NAVE_ALLOC_H
#define NAVE_ALLOC_H

#include <stdarg.h>
#include <stddef.h>

/* Allocate n bytes. Caller frees with free(). */
void *xmalloc(size_t n);
/* Allocate nmemb * size zeroed bytes; aborts on overflow. Caller frees with free(). */
void *xcalloc(size_t nmemb, size_t size);
/* Resize p to n bytes (p may be NULL). Caller frees the result with free(). */
void *xrealloc(void *p, size_t n);
/* Duplicate a NUL-terminated string (NULL gives NULL). Caller frees with free(). */
char *xstrdup(const char *s);
/* Duplicate at most n bytes of s and terminate. Caller frees with free(). */
char *xstrndup(const char *s, size_t n);
/* printf into a new string. Caller frees with free(). */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Allocate one zeroed object of the pointed-to type: struct foo *f = xnew(struct foo); */
#define xnew(type) ((type *)xcalloc(1, sizeof(type)))

/* Free *p and set it to NULL; usable in cleanup paths. */
#define xfree_ptr(p) do { free(*(p)); *(p) = NULL; } while (0)

#endif
