package io.prism.runtime.structured;

import java.util.List;

/** Ten schemas exercising every supported keyword, shared by the structured-output tests. */
final class TestSchemas {
  private TestSchemas() {}

  static final List<String> ALL = List.of(
      // 1 flat object, all required
      "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"},\"ok\":{\"type\":\"boolean\"}},"
          + "\"required\":[\"name\",\"age\",\"ok\"],\"additionalProperties\":false}",
      // 2 optional properties, nullable type list, number
      "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"string\",\"null\"]},\"b\":{\"type\":\"number\"},\"c\":{\"type\":\"null\"}},"
          + "\"required\":[\"b\"]}",
      // 3 arrays with bounds and string lengths
      "{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":5},"
          + "\"minItems\":1,\"maxItems\":3}},\"required\":[\"tags\"],\"additionalProperties\":false}",
      // 4 enum and const
      "{\"type\":\"object\",\"properties\":{\"color\":{\"enum\":[\"red\",\"green\",\"blue\",1,null]},\"kind\":{\"const\":\"fixed\"}},"
          + "\"required\":[\"color\",\"kind\"],\"additionalProperties\":false}",
      // 5 anyOf of objects
      "{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}},\"required\":[\"x\"],\"additionalProperties\":false},"
          + "{\"type\":\"object\",\"properties\":{\"y\":{\"type\":\"string\"}},\"required\":[\"y\"],\"additionalProperties\":false}]}",
      // 6 $defs and non-recursive $ref
      "{\"type\":\"object\",\"$defs\":{\"point\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\"},\"y\":{\"type\":\"number\"}},"
          + "\"required\":[\"x\",\"y\"],\"additionalProperties\":false}},\"properties\":{\"from\":{\"$ref\":\"#/$defs/point\"},"
          + "\"to\":{\"$ref\":\"#/$defs/point\"}},\"required\":[\"from\",\"to\"],\"additionalProperties\":false}",
      // 7 recursive $ref (a tree)
      "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"kids\":{\"type\":\"array\","
          + "\"items\":{\"$ref\":\"#/$defs/node\"},\"maxItems\":2}},\"required\":[\"v\"],\"additionalProperties\":false}},"
          + "\"$ref\":\"#/$defs/node\"}",
      // 8 additionalProperties as a schema beside declared ones
      "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"}},\"required\":[\"id\"],\"additionalProperties\":{\"type\":\"boolean\"}}",
      // 9 oneOf of disjoint types, array of arrays
      "{\"type\":\"object\",\"properties\":{\"v\":{\"oneOf\":[{\"type\":\"string\",\"maxLength\":3},{\"type\":\"integer\"},"
          + "{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"maxItems\":2},\"maxItems\":2}]}},"
          + "\"required\":[\"v\"],\"additionalProperties\":false}",
      // 10 json_object-like: any object (no properties)
      "{\"type\":\"object\"}");
}
