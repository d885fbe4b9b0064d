/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * list.h - internal: intrusive doubly linked lists.
 *
 * A list is a head (a pevi_link_t of its own) linked in a circle with the
 * links embedded in its items; an empty list is a head linked to itself.
 * A link that is on no list has next == NULL (pevi_link_init, and what
 * pevi_link_remove leaves). PEVI_CONTAINER gets from a link back to its item.
 *
 * Everything here is static inline: the compatibility library, which links
 * only libpoolev's public API, uses it too.
 */
#ifndef POOLEV_LIST_H
#define POOLEV_LIST_H

#include <stddef.h>

/* The struct that holds @a ptr as its member @a member. */
#define PEVI_CONTAINER(ptr, type, member) \
    ((type *) (void *) ((char *) (ptr) - offsetof(type, member)))

/* An intrusive list link; next == NULL when not on a list. */
typedef struct pevi_link {
    struct pevi_link *next, *prev;
} pevi_link_t;

/* A link on no list. */
static inline void pevi_link_init(pevi_link_t *l)
{
    l->next = l->prev = NULL;
}

static inline int pevi_link_linked(const pevi_link_t *l)
{
    return l->next != NULL;
}

/* An empty list: a head linked to itself. */
static inline void pevi_list_init(pevi_link_t *head)
{
    head->next = head->prev = head;
}

static inline int pevi_list_empty(const pevi_link_t *head)
{
    return head->next == head;
}

/* Put @a item last on the list at @a head. */
static inline void pevi_list_append(pevi_link_t *head, pevi_link_t *item)
{
    item->prev = head->prev;
    item->next = head;
    head->prev->next = item;
    head->prev = item;
}

/* Put @a item first on the list at @a head. */
static inline void pevi_list_prepend(pevi_link_t *head, pevi_link_t *item)
{
    item->next = head->next;
    item->prev = head;
    head->next->prev = item;
    head->next = item;
}

/* Take @a l off its list. */
static inline void pevi_link_remove(pevi_link_t *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->next = l->prev = NULL;
}

/* Take the first item off the list at @a head and return its link; NULL
 * when the list is empty. */
static inline pevi_link_t *pevi_list_shift(pevi_link_t *head)
{
    pevi_link_t *first = head->next;

    if (first == head)
        return NULL;
    pevi_link_remove(first);
    return first;
}

#endif /* POOLEV_LIST_H */
