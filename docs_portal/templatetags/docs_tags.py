from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def release_docs(context, release):
    """The docs section of the release page: linked pages this person may read (one query)."""
    from docs_portal.selectors import release_docs as select

    return select(release, context["request"].user)
